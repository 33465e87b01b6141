export * from './types.js';
export { decode, decodeAt, TermDecoder, type DecodeOptions } from './decode.js';
export { encode, TermEncoder, type EncodeOptions } from './encode.js';
export { Tag, VERSION_MAGIC } from './tags.js';
export { inspect, formatFloat, type InspectOptions } from './inspect.js';
export { parseTerm, type ParseOptions } from './parse.js';
