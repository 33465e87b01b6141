/** A stand-in for an Outbound's socket that keeps every byte written to it and is never busy. */
export class KeepingSocket {
  readonly chunks: Buffer[] = [];
  readonly writableLength = 0;
  write(b: Buffer): boolean {
    this.chunks.push(Buffer.from(b));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  on(): void {}
  /** The frames written so far, without their 4-byte lengths (ticks included, as empty frames). */
  frames(): Buffer[] {
    const bytes = Buffer.concat(this.chunks);
    const out: Buffer[] = [];
    for (let p = 0; p < bytes.length; ) {
      const len = bytes.readUInt32BE(p);
      out.push(bytes.subarray(p + 4, p + 4 + len));
      p += 4 + len;
    }
    return out;
  }
}
