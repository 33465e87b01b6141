/**
 * The term model (design.md, "Terms"): how Erlang terms look in JavaScript.
 *
 * Atoms are interned: `atom('ok') === atom('ok')`. Integers are `number` within ±(2^53−1) and
 * `bigint` beyond. Strings are UTF-8 binaries, arrays proper lists, `Map` and plain objects maps.
 * The classes below hold what JavaScript has no value for.
 *
 * One process may load this module more than once (the ESM and the CJS build, or two copies of the
 * package). The classes and the atom table are therefore shared through a registry on `globalThis`:
 * the first copy registers its own, later copies export those, so `instanceof` and `===` hold across
 * copies at no cost in the codec's loops (a `Symbol.hasInstance` would turn each check into a call).
 * Each export is an interface (the type) and a constant (the class), so both uses keep working.
 */

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

/**
 * The registry's key. Bump the version when the term model changes shape (fields, constructor
 * arguments, methods the codec relies on), so that copies of different shapes never share classes.
 */
const TERM_MODEL_KEY = Symbol.for('erldist.term.v1');

class AtomClass {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
  toJSON(): string {
    return this.name;
  }
  [inspectSymbol](): string {
    return `atom(${JSON.stringify(this.name)})`;
  }
}

/**
 * The intern table holds atoms weakly: identity is preserved for as long as anyone can compare, and a
 * peer that sends millions of distinct atoms cannot grow the table without bound (unlike the BEAM's).
 * One table per process: the first copy's interner is registered with its classes.
 */
function createInterner(AtomCtor: new (name: string) => Atom): (name: string) => Atom {
  const atomTable = new Map<string, WeakRef<Atom>>();
  const atomCollector = new FinalizationRegistry<string>((name) => {
    const ref = atomTable.get(name);
    if (ref !== undefined && ref.deref() === undefined) atomTable.delete(name);
  });
  return (name) => {
    const ref = atomTable.get(name);
    if (ref !== undefined) {
      const existing = ref.deref();
      if (existing !== undefined) return existing;
    }
    const created = new AtomCtor(name);
    atomTable.set(name, new WeakRef(created));
    atomCollector.register(created, name);
    return created;
  };
}

/** Longest atom Erlang accepts, in characters (code points). */
export const MAX_ATOM_CHARS = 255;

/** The atom named `name` (at most 255 characters, as in Erlang). */
export function atom(name: string): Atom {
  if (typeof name !== 'string') throw new TypeError('atom(name): name must be a string');
  if (name.length > MAX_ATOM_CHARS && countCodePoints(name) > MAX_ATOM_CHARS) {
    throw new RangeError(`atom(name): an atom has at most ${MAX_ATOM_CHARS} characters`);
  }
  return internAtom(name);
}

function countCodePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

class TupleClass {
  constructor(readonly elements: Term[]) {}
  get length(): number {
    return this.elements.length;
  }
  /** Element `i`, counting from 0 (Erlang's `element(i + 1, T)`). */
  get(i: number): Term {
    return this.elements[i];
  }
  [Symbol.iterator](): Iterator<Term> {
    return this.elements[Symbol.iterator]();
  }
  [inspectSymbol](_depth: number, options: object, inspect: (v: unknown, o: object) => string): string {
    return `tuple(${this.elements.map((e) => inspect(e, options)).join(', ')})`;
  }
}

/** `tuple(a, b, c)` is `{a, b, c}`. */
export function tuple(...elements: Term[]): Tuple {
  return new Tuple(elements);
}

class FloatClass {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  [inspectSymbol](): string {
    return `float(${Number.isInteger(this.value) ? this.value.toFixed(1) : this.value})`;
  }
}

/** `float(1)` encodes as `1.0`. */
export function float(value: number): Float {
  return new Float(value);
}

class PidClass {
  constructor(
    readonly node: Atom,
    readonly id: number,
    readonly serial: number,
    readonly creation: number,
  ) {}
  [inspectSymbol](): string {
    return this.toString();
  }
  toString(): string {
    return `#PID<${this.node.name}.${this.id}.${this.serial}>`;
  }
}

class ReferenceClass {
  constructor(
    readonly node: Atom,
    readonly creation: number,
    readonly ids: readonly number[],
  ) {}
  [inspectSymbol](): string {
    return this.toString();
  }
  toString(): string {
    return `#Ref<${this.node.name}.${[...this.ids].reverse().join('.')}>`;
  }
}

class PortClass {
  constructor(
    readonly node: Atom,
    readonly id: number | bigint,
    readonly creation: number,
  ) {}
  [inspectSymbol](): string {
    return this.toString();
  }
  toString(): string {
    return `#Port<${this.node.name}.${this.id}>`;
  }
}

class BitBinaryClass {
  constructor(
    readonly bytes: Uint8Array,
    readonly bits: number,
  ) {}
  /** Length in bits. */
  get bitLength(): number {
    return (this.bytes.length - 1) * 8 + this.bits;
  }
}

class ImproperListClass {
  constructor(
    readonly elements: Term[],
    readonly tail: Term,
  ) {}
}

class ExportFunClass {
  constructor(
    readonly module: Atom,
    readonly name: Atom,
    readonly arity: number,
  ) {}
}

class FunClass {
  constructor(
    /** The whole NEW_FUN_EXT encoding, tag included. */
    readonly bytes: Uint8Array,
    readonly module: Atom,
    readonly arity: number,
    readonly index: number,
    /** The 16-byte MD5 of the module code, in hex. */
    readonly uniq: string,
    readonly freeVars: readonly Term[],
  ) {}
}

/** What the registry holds: the classes and the interner (with its table). */
interface TermModel {
  Atom: typeof AtomClass;
  Tuple: typeof TupleClass;
  Float: typeof FloatClass;
  Pid: typeof PidClass;
  Reference: typeof ReferenceClass;
  Port: typeof PortClass;
  BitBinary: typeof BitBinaryClass;
  ImproperList: typeof ImproperListClass;
  ExportFun: typeof ExportFunClass;
  Fun: typeof FunClass;
  internAtom: (name: string) => Atom;
}

/**
 * The registered term model, registering this copy's classes where none are. Members are filled in one
 * by one, so that a later copy can add a class without replacing those already shared.
 */
function sharedTermModel(): TermModel {
  const registry = globalThis as { [TERM_MODEL_KEY]?: Partial<TermModel> };
  let model = registry[TERM_MODEL_KEY];
  if (typeof model !== 'object' || model === null) {
    model = {};
    // Not enumerable, so the registry stays out of the way of code that walks globalThis.
    Object.defineProperty(globalThis, TERM_MODEL_KEY, { value: model, configurable: true });
  }
  model.Atom ??= named(AtomClass, 'Atom');
  model.Tuple ??= named(TupleClass, 'Tuple');
  model.Float ??= named(FloatClass, 'Float');
  model.Pid ??= named(PidClass, 'Pid');
  model.Reference ??= named(ReferenceClass, 'Reference');
  model.Port ??= named(PortClass, 'Port');
  model.BitBinary ??= named(BitBinaryClass, 'BitBinary');
  model.ImproperList ??= named(ImproperListClass, 'ImproperList');
  model.ExportFun ??= named(ExportFunClass, 'ExportFun');
  model.Fun ??= named(FunClass, 'Fun');
  model.internAtom ??= createInterner(model.Atom);
  return model as TermModel;
}

/** The implementation classes are named `…Class` only to leave the public names to the exports. */
function named<C extends abstract new (...args: never[]) => unknown>(ctor: C, name: string): C {
  Object.defineProperty(ctor, 'name', { value: name });
  return ctor;
}

/** A class as exported: constructible, usable with `instanceof`, instances typed by the interface. */
type SharedClass<C extends abstract new (...args: never[]) => unknown, I> = {
  new (...args: ConstructorParameters<C>): I;
  readonly prototype: I;
};

const model = sharedTermModel();

/** Interns without validating; the codec checks lengths itself. @internal */
export const internAtom: (name: string) => Atom = model.internAtom;

/** An Erlang atom. Never construct directly: use `atom(name)`, which interns. */
export interface Atom extends AtomClass {}
export const Atom: SharedClass<typeof AtomClass, Atom> = model.Atom;

/** An Erlang tuple. Iterable, so `const [ok, value] = t` works. */
export interface Tuple extends TupleClass {}
export const Tuple: SharedClass<typeof TupleClass, Tuple> = model.Tuple;

/**
 * A float whose value is integral (or -0.0). Plain JS numbers that are safe integers encode as Erlang
 * integers; wrap them to send a float. `decode(…, { exact: true })` produces these so that `1.0` stays
 * a float.
 */
export interface Float extends FloatClass {}
export const Float: SharedClass<typeof FloatClass, Float> = model.Float;

/** A pid. `creation` is 32-bit; `id` and `serial` are 32-bit (NEW_PID_EXT). */
export interface Pid extends PidClass {}
export const Pid: SharedClass<typeof PidClass, Pid> = model.Pid;

/** A reference: up to 5 32-bit words (NEWER_REFERENCE_EXT). */
export interface Reference extends ReferenceClass {}
export const Reference: SharedClass<typeof ReferenceClass, Reference> = model.Reference;

/** A port: 64-bit id (V4_PORT_EXT); `number` while it fits 2^53, else `bigint`. */
export interface Port extends PortClass {}
export const Port: SharedClass<typeof PortClass, Port> = model.Port;

/**
 * A bitstring whose length is not a whole number of bytes: `bits` (1..7) bits of the last byte count,
 * the most significant first. Whole-byte binaries are strings or Buffers, never BitBinary.
 */
export interface BitBinary extends BitBinaryClass {}
export const BitBinary: SharedClass<typeof BitBinaryClass, BitBinary> = model.BitBinary;

/** A list whose tail is not `[]`: `[a, b | tail]`. */
export interface ImproperList extends ImproperListClass {}
export const ImproperList: SharedClass<typeof ImproperListClass, ImproperList> = model.ImproperList;

/** An external fun `fun M:F/A` (EXPORT_EXT). */
export interface ExportFun extends ExportFunClass {}
export const ExportFun: SharedClass<typeof ExportFunClass, ExportFun> = model.ExportFun;

/**
 * A local fun (NEW_FUN_EXT), kept opaque: its encoding is reproduced byte for byte. The fields are
 * decoded for printing and inspection only.
 */
export interface Fun extends FunClass {}
export const Fun: SharedClass<typeof FunClass, Fun> = model.Fun;

export type Term =
  | Atom
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Float
  | Tuple
  | Term[]
  | ImproperList
  | Map<Term, Term>
  | { [key: string]: Term }
  | Pid
  | Reference
  | Port
  | BitBinary
  | ExportFun
  | Fun;
