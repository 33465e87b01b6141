/** The pids and references one local node makes: its node atom and creation, and counters. */
import { randomBytes } from 'node:crypto';
import { type Atom, Pid, Reference } from '../term/index.js';

export class Identifiers {
  private nextPid = 1;
  private nextRef = 0;
  /** Random, so that references of two nodes with the same name and creation still differ. */
  private readonly refSalt = randomBytes(4).readUInt32BE(0);

  constructor(
    readonly nodeAtom: Atom,
    readonly creation: number,
  ) {}

  makePid(): Pid {
    const id = this.nextPid++;
    // Pid ids are 28 bits in OTP; past that, start over with a new serial.
    return new Pid(this.nodeAtom, id & 0xfffffff, Math.floor(id / 0x10000000) & 0x1fff, this.creation);
  }

  makeRef(): Reference {
    const n = this.nextRef++;
    // The first word of an OTP reference holds 18 bits.
    return new Reference(this.nodeAtom, this.creation, [n & 0x3ffff, Math.floor(n / 0x40000) >>> 0, this.refSalt]);
  }

  /** True for a pid made by this node (this name and creation). */
  isOurs(pid: Pid): boolean {
    return pid.node === this.nodeAtom && pid.creation === this.creation;
  }
}
