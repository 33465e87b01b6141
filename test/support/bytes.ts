/** Bytes for golden-frame tests: hex literals and length-prefixed frames. */

/** Bytes from hex digits; white space is ignored, so frames can be written in groups. */
export function hex(digits: string): Buffer {
  return Buffer.from(digits.replace(/\s+/g, ''), 'hex');
}

/** `Len:16` then `body`: an EPMD request, a handshake packet. */
export function u16Framed(body: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  out.set(body, 2);
  return out;
}

/** `Len:32` then `body`: a distribution frame after the handshake, an Erlang `{packet, 4}` port frame. */
export function u32Framed(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}
