export { type DecodeOptions, decode, decodeAt, TermDecoder } from './decode.js';
export { type EncodeOptions, encode, TermEncoder } from './encode.js';
export { formatFloat, type InspectOptions, inspect } from './inspect.js';
export { type ParseOptions, parseTerm } from './parse.js';
export { Tag, VERSION_MAGIC } from './tags.js';
export * from './types.js';
