/** A seeded generator of JS terms in erldist's normal form (what `decode(…, { exact: true })` gives). */
import {
  atom,
  BitBinary,
  ExportFun,
  Float,
  ImproperList,
  Pid,
  Port,
  Reference,
  type Term,
  tuple,
} from '../../src/index.js';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class TermGen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  text(n: number): string {
    const alphabet = ['a', 'b', 'Z', '0', ' ', '_', 'é', 'λ', '😀', '\n', '"', "'", '\\'];
    let s = '';
    for (let i = 0; i < n; i++) s += this.pick(alphabet);
    return s;
  }
  integer(): number | bigint {
    switch (this.int(6)) {
      case 0:
        return this.int(256);
      case 1:
        return this.int(2 ** 32) - 2 ** 31;
      case 2:
        return (this.int(2 ** 26) * 2 ** 27 + this.int(2 ** 27)) * (this.next() < 0.5 ? -1 : 1);
      case 3: {
        const v = BigInt(this.int(2 ** 30)) << BigInt(53 + this.int(20));
        return this.next() < 0.5 ? -v - 1n : v + 1n;
      }
      case 4: {
        let v = 1n;
        const words = 2 + this.int(70);
        for (let i = 0; i < words; i++) v = (v << 32n) | BigInt(this.int(2 ** 32));
        return this.next() < 0.5 ? -v : v;
      }
      default:
        return this.pick([
          0,
          -1,
          255,
          256,
          2 ** 31 - 1,
          -(2 ** 31),
          2 ** 31,
          Number.MAX_SAFE_INTEGER,
          -Number.MAX_SAFE_INTEGER,
        ]);
    }
  }
  float(exact: boolean): number | Float {
    const v = this.pick([0.5, -1.25, 1e-300, 1.7976931348623157e308, 5e-324, Math.PI, (this.next() - 0.5) * 1e6]);
    if (exact && this.next() < 0.3) return new Float(this.pick([0, -0, 1, -7, 2 ** 52, 1e15]));
    return v;
  }
  atom(): Term {
    const a = this.pick([
      'ok',
      'error',
      '',
      'with space',
      'é',
      'λ😀',
      'Elixir.Foo.Bar',
      'nil',
      'a'.repeat(255),
      'λ'.repeat(255),
    ]);
    if (this.next() < 0.1) return this.next() < 0.5;
    return atom(a);
  }
  node() {
    return atom(this.pick(['a@b', 'app@svc.ns.svc.cluster.local', 'nonode@nohost', 'x@127.0.0.1']));
  }
  leaf(exact: boolean): Term {
    switch (this.int(13)) {
      case 0:
      case 1:
        return this.integer();
      case 2:
        return this.float(exact);
      case 3:
      case 4:
        return this.atom();
      case 5:
        return this.text(this.int(40));
      case 6: {
        const b = this.bytes(1 + this.int(40));
        b[0] = 0xff; // never valid UTF-8, so it stays a Buffer
        return b;
      }
      case 7: {
        const bits = 1 + this.int(7);
        const b = this.bytes(1 + this.int(10));
        b[b.length - 1] &= (0xff << (8 - bits)) & 0xff;
        return new BitBinary(b, bits);
      }
      case 8:
        return new Pid(this.node(), this.int(2 ** 32), this.int(2 ** 32), this.int(2 ** 32));
      case 9:
        return new Reference(
          this.node(),
          this.int(2 ** 32),
          Array.from({ length: 1 + this.int(5) }, () => this.int(2 ** 32)),
        );
      case 10:
        return new Port(
          this.node(),
          this.next() < 0.5 ? this.int(2 ** 32) : (1n << 60n) + BigInt(this.int(2 ** 32)),
          this.int(2 ** 32),
        );
      case 11:
        return new ExportFun(atom('lists'), atom('map'), this.int(256));
      default:
        return Array.from({ length: this.int(20) }, () => this.int(256));
    }
  }
  term(depth = 0, exact = true): Term {
    if (depth > 4 || this.next() < 0.4) return this.leaf(exact);
    const n = this.int(6);
    const kids = () => Array.from({ length: n }, () => this.term(depth + 1, exact));
    switch (this.int(6)) {
      case 0:
        return kids();
      case 1:
        return tuple(...kids());
      case 2: {
        const tail = this.leaf(exact);
        if (Array.isArray(tail)) return kids();
        return n === 0 ? tail : new ImproperList(kids(), tail);
      }
      case 3: {
        const o: { [k: string]: Term } = {};
        for (let i = 0; i < n; i++)
          o[this.pick(['id', 'name', 'with space', 'é', 'Elixir.X', `k${i}`])] = this.term(depth + 1, exact);
        return o;
      }
      case 4: {
        const m = new Map<Term, Term>();
        m.set(`s${this.int(100)}`, this.term(depth + 1, exact));
        for (let i = 0; i < n; i++)
          m.set(this.pick<Term>([i, `k${i}`, BigInt(2 ** 60) + BigInt(i), atom(`a${i}`)]), this.term(depth + 1, exact));
        return m;
      }
      default:
        return kids();
    }
  }
}
