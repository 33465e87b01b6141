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
 */

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

/** An Erlang atom. Never construct directly: use `atom(name)`, which interns. */
export class Atom {
  /** @internal */
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
 * There is one per process: the first copy's interner is registered with its classes.
 */
function createInterner(AtomClass: typeof Atom): (name: string) => Atom {
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
    const created = new AtomClass(name);
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

/** An Erlang tuple. Iterable, so `const [ok, value] = t` works. */
export class Tuple {
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

/**
 * A float whose value is integral (or -0.0). Plain JS numbers that are safe integers encode as Erlang
 * integers; wrap them to send a float. `decode(…, { exact: true })` produces these so that `1.0` stays
 * a float.
 */
export class Float {
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

/** A pid. `creation` is 32-bit; `id` and `serial` are 32-bit (NEW_PID_EXT). */
export class Pid {
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

/** A reference: up to 5 32-bit words (NEWER_REFERENCE_EXT). */
export class Reference {
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

/** A port: 64-bit id (V4_PORT_EXT); `number` while it fits 2^53, else `bigint`. */
export class Port {
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

/**
 * A bitstring whose length is not a whole number of bytes: `bits` (1..7) bits of the last byte count,
 * the most significant first. Whole-byte binaries are strings or Buffers, never BitBinary.
 */
export class BitBinary {
  constructor(
    readonly bytes: Uint8Array,
    readonly bits: number,
  ) {}
  /** Length in bits. */
  get bitLength(): number {
    return (this.bytes.length - 1) * 8 + this.bits;
  }
}

/** A list whose tail is not `[]`: `[a, b | tail]`. */
export class ImproperList {
  constructor(
    readonly elements: Term[],
    readonly tail: Term,
  ) {}
}

/** An external fun `fun M:F/A` (EXPORT_EXT). */
export class ExportFun {
  constructor(
    readonly module: Atom,
    readonly name: Atom,
    readonly arity: number,
  ) {}
}

/**
 * A local fun (NEW_FUN_EXT), kept opaque: its encoding is reproduced byte for byte. The fields are
 * decoded for printing and inspection only.
 */
export class Fun {
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

// ---------------------------------------------------------------------------------------------
// The registry shared by every copy of this module in the process

/**
 * The registry's key. Bump the version when the term model changes shape (fields, constructor
 * arguments, methods the codec relies on), so that copies of different shapes never share classes.
 */
const TERM_MODEL_KEY = Symbol.for('erldist.term.v1');

const ownClasses = { Atom, Tuple, Float, Pid, Reference, Port, BitBinary, ImproperList, ExportFun, Fun };

const classNames = Object.keys(ownClasses) as (keyof typeof ownClasses)[];

/** What the registry holds: the classes, and the interner with its table. */
type TermModel = typeof ownClasses & { internAtom: (name: string) => Atom };

/**
 * The registered term model, registering this copy's classes where none are. Members are filled in
 * one by one, so that a later copy can add a class without replacing those already shared.
 */
function sharedTermModel(): TermModel {
  const registry = globalThis as { [TERM_MODEL_KEY]?: Partial<TermModel> };
  let model = registry[TERM_MODEL_KEY];
  if (typeof model !== 'object' || model === null) {
    model = {};
    // Not enumerable, so the registry stays out of the way of code that walks globalThis.
    Object.defineProperty(globalThis, TERM_MODEL_KEY, { value: model, configurable: true });
  }
  for (const name of classNames) (model as Record<string, unknown>)[name] ??= ownClasses[name];
  model.internAtom ??= createInterner(model.Atom as typeof Atom);
  return model as TermModel;
}

const model = sharedTermModel();

/** Interns without validating; the codec checks lengths itself. @internal */
export const internAtom: (name: string) => Atom = model.internAtom;

if (classNames.some((name) => model[name] !== ownClasses[name])) {
  // A later copy: export the registered classes instead of its own. Class bindings are mutable in
  // JavaScript and exports are live, so every importer sees these; TypeScript forbids the assignment
  // (TS2629), hence the directive. Declarations and types stay exactly those of the classes above.
  // biome-ignore-start lint/suspicious/noClassAssign: deliberate, see above
  // @ts-expect-error TS2629: reassigning the classes is the point
  ({ Atom, Tuple, Float, Pid, Reference, Port, BitBinary, ImproperList, ExportFun, Fun } = model);
  // biome-ignore-end lint/suspicious/noClassAssign: deliberate, see above
}
