#!/usr/bin/env node

// ETF codec benchmark: erldist against erlang_js (and the BEAM's own term_to_binary/binary_to_term).
//
//   npm run bench                       (builds dist/ first)
//   node bench/codec.mjs [options]
//
// Options:
//   --json FILE       also write the results as JSON to FILE
//   --round-ms N      length of one timed round in ms          (default 200)
//   --rounds N        timed rounds per measurement; the median is reported (default 5)
//   --warmup-ms N     untimed warm-up per measurement in ms    (default 300)
//   --cases a,b       only these cases (ids as printed in the table)
//   --erldist PATH    load the codec from PATH instead of ../dist/index.js (development only)
//
// The payloads are built in Erlang by bench/erlang/codec_bench.erl (compiled with erlc at start, one
// `erl` process that also times the BEAM's own term_to_binary/binary_to_term on them, one round per
// request, so that rounds alternate sides: BEAM, erldist, erlang_js, BEAM, ...). Decoders read
// exactly the bytes Erlang produced; encoders are given the value the decoder produced (for
// erlang_js: the same value in erlang_js's term types).
// binary_1MiB and nested_100 decode also time a floor in the same alternation (binary encode: a fresh
// Buffer and one copy; binary decode: one subarray view; nested decode: building the same arrays and
// tuples directly), printed as a note: no JS codec returning those values can be faster than it.
// Erlang encodes with {minor_version, 2}: UTF-8 atoms, the OTP 26+ default and what erldist emits.

import { isUtf8 } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const opts = { json: null, roundMs: 200, rounds: 5, warmupMs: 300, cases: null, erldist: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) die(`${a} needs a positive number`);
      return n;
    };
    if (a === '--json') opts.json = val();
    else if (a === '--round-ms') opts.roundMs = num();
    else if (a === '--rounds') opts.rounds = Math.round(num());
    else if (a === '--warmup-ms') opts.warmupMs = num();
    else if (a === '--cases')
      opts.cases = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '--erldist') opts.erldist = val();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node bench/codec.mjs [--json FILE] [--round-ms N] [--rounds N] ' +
          '[--warmup-ms N] [--cases id,id] [--erldist PATH]\n',
      );
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  return opts;
}

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

const log = (msg) => process.stderr.write(`${msg}\n`);
const warn = (msg) => process.stderr.write(`WARNING: ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Cases. The Erlang expressions below are the reference definition of each payload.

const CASES = [
  { id: 'small_map', erl: 'small_map', desc: 'one small atom-keyed map' },
  { id: 'maps_1000', erl: 'maps_1000', desc: 'list of 1,000 such maps (varied ids/names, some non-ASCII)' },
  { id: 'binary_1MiB', erl: 'binary_1mib', desc: '1 MiB of random bytes (NOT valid UTF-8)' },
  { id: 'ints_100k', erl: 'ints_100k', desc: '100,000 integers: 1/3 0..255, 1/3 int32, 1/3 int64' },
  { id: 'nested_100', erl: 'nested_100', desc: '100-deep alternating [X] / {X, 1} around an atom' },
];

// The BEAM side is bench/erlang/codec_bench.erl, compiled with erlc into a temp dir at start. It writes
// the payloads there, then answers one timed round per request, so that rounds alternate sides.
class Beam {
  static start(opts) {
    const dir = mkdtempSync(join(tmpdir(), 'erldist-bench-'));
    const src = new URL('./erlang/codec_bench.erl', import.meta.url).pathname;
    const erlc = spawnSync('erlc', ['-o', dir, src], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (erlc.error) die(`could not run erlc: ${erlc.error.message}`);
    if (erlc.status !== 0) die(`erlc failed:\n${erlc.stdout}${erlc.stderr}`);
    const proc = spawn('erl', ['-noshell', '-pa', dir, '-run', 'codec_bench', 'main', dir], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return new Beam(proc, dir, opts);
  }

  constructor(proc, dir, opts) {
    this.proc = proc;
    this.dir = dir;
    this.opts = opts;
    this.lines = [];
    this.waiting = [];
    this.otp = null;
    let partial = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      partial += chunk;
      let nl = partial.indexOf('\n');
      while (nl >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        const waiter = this.waiting.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
        nl = partial.indexOf('\n');
      }
    });
    proc.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w(null);
      if (code !== 0 && !this.quitting) warn(`erl exited with status ${code}`);
    });
  }

  line() {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async ready() {
    const otp = (await this.line())?.split(/\s+/);
    if (otp?.[0] !== 'otp') die(`erl did not start (${otp})`);
    this.otp = `OTP ${otp[1]} (erts ${otp[2]})`;
    if ((await this.line()) !== 'payloads ok') die('erl could not build the payloads');
    const payloads = {};
    for (const c of CASES) payloads[c.erl] = readFileSync(join(this.dir, `${c.erl}.etf`));
    return payloads;
  }

  /** One timed round of the BEAM's term_to_binary or binary_to_term: calls per second. */
  async round(erlCase, op, warmupMs) {
    this.proc.stdin.write(`round ${erlCase} ${op} ${Math.round(this.opts.roundMs)} ${Math.round(warmupMs)}\n`);
    const f = (await this.line())?.split(/\s+/);
    if (f?.[0] !== 'beam' || f[1] !== erlCase || f[2] !== op) die(`unexpected answer from erl: ${f}`);
    return Number(f[3]);
  }

  stop() {
    this.quitting = true;
    this.proc.stdin.end('quit\n');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Codecs

async function loadErldist(opts) {
  const target = opts.erldist
    ? pathToFileURL(resolve(opts.erldist)).href
    : new URL('../dist/index.js', import.meta.url).href;
  try {
    const mod = await import(target);
    for (const name of ['encode', 'decode', 'atom', 'tuple']) {
      if (typeof mod[name] !== 'function') throw new Error(`no export "${name}"`);
    }
    const AtomClass = mod.atom('ok').constructor;
    const TupleClass = mod.tuple(1, 2).constructor;
    return { ...mod, AtomClass, TupleClass, source: target };
  } catch (err) {
    warn(
      `erldist codec unavailable (${target}): ${err.message}. Run "npm run build" first; ` +
        'continuing with the baselines only.',
    );
    return null;
  }
}

function loadErlangJs() {
  try {
    const require = createRequire(import.meta.url);
    const { Erlang } = require('erlang_js');
    const version = require('erlang_js/package.json').version;
    const encode = (term) => {
      let err, out;
      Erlang.term_to_binary(term, (e, b) => {
        err = e;
        out = b;
      }); // synchronous when uncompressed
      if (err) throw err;
      return out;
    };
    const decode = (bytes) => {
      let err, out;
      Erlang.binary_to_term(bytes, (e, t) => {
        err = e;
        out = t;
      }); // synchronous when uncompressed
      if (err) throw err;
      return out;
    };
    return { Erlang, encode, decode, version };
  } catch (err) {
    warn(`erlang_js unavailable: ${err.message}`);
    return null;
  }
}

// The erldist term, rebuilt in erlang_js's term types: atoms are OtpErlangAtom (true/false stay JS
// booleans), binaries OtpErlangBinary(Buffer), lists OtpErlangList([...]), tuples plain JS arrays,
// maps OtpErlangMap(Map). erlang_js has no bigint: those become (lossy) Numbers, which the
// byte-for-byte check then rejects.
function toErlangJs(t, ed, E) {
  if (typeof t === 'number' || typeof t === 'boolean') return t;
  if (typeof t === 'bigint') return Number(t);
  if (typeof t === 'string') return new E.OtpErlangBinary(Buffer.from(t, 'utf8'));
  if (t instanceof ed.AtomClass) return new E.OtpErlangAtom(t.name ?? String(t));
  if (t instanceof Uint8Array) return new E.OtpErlangBinary(Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  if (Array.isArray(t)) return new E.OtpErlangList(t.map((x) => toErlangJs(x, ed, E)));
  if (t instanceof ed.TupleClass) {
    const els = Array.isArray(t.elements) ? t.elements : [...t];
    return els.map((x) => toErlangJs(x, ed, E));
  }
  if (t instanceof Map) {
    return new E.OtpErlangMap(new Map([...t].map(([k, v]) => [toErlangJs(k, ed, E), toErlangJs(v, ed, E)])));
  }
  if (t !== null && typeof t === 'object') {
    return new E.OtpErlangMap(
      new Map(Object.entries(t).map(([k, v]) => [new E.OtpErlangAtom(k), toErlangJs(v, ed, E)])),
    );
  }
  throw new TypeError(`toErlangJs: unexpected ${typeof t}`);
}

// ---------------------------------------------------------------------------------------------
// Timing

// biome-ignore lint/correctness/noUnusedVariables: written, never read, so that no call is optimised away
let sink; // every result is stored here so no call can be optimised away

function timeN(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink = fn();
  return Number(process.hrtime.bigint() - t0);
}

function calibrate(fn, n, targetNs) {
  for (;;) {
    const t = timeN(fn, n);
    if (t >= targetNs / 10 || n >= 2 ** 30) return Math.max(1, Math.round((n * targetNs) / Math.max(t, 1)));
    n *= 2;
  }
}

/** Warms `fn` up and returns how many calls make one round. */
function prepare(fn, opts) {
  const roundNs = opts.roundMs * 1e6;
  const n0 = calibrate(fn, 1, roundNs);
  const batch = Math.max(1, Math.floor(n0 / 10));
  const deadline = process.hrtime.bigint() + BigInt(Math.round(opts.warmupMs * 1e6));
  while (process.hrtime.bigint() < deadline) timeN(fn, batch);
  return calibrate(fn, Math.max(1, Math.floor(n0 / 4)), roundNs); // re-calibrate once warm
}

/** One timed round of `n` calls: calls per second. */
function round(fn, n) {
  return (n * 1e9) / Math.max(timeN(fn, n), 1);
}

function median(rates) {
  const sorted = [...rates].sort((a, b) => a - b);
  return { opsPerSec: sorted[(sorted.length - 1) >> 1], min: sorted[0], max: sorted[sorted.length - 1], rounds: rates };
}

// ---------------------------------------------------------------------------------------------
// Formatting

function fmtOps(x) {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(1);
}
function fmtMB(x) {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}
function fmtRatio(x, missed = false) {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  return `${x.toFixed(2)}x${missed ? ' !' : ''}`;
}

/**
 * Whether a row's ratio misses issue 11's goal: decode at least 2x erlang_js; against the BEAM
 * (its column, or the baseline where erlang_js cannot take part) at least 0.5x both ways. Encode
 * has no goal against erlang_js.
 */
function missesGoal(r) {
  if (r.ratio == null) return false;
  return r.baseline === 'BEAM' ? r.ratio < 0.5 : r.op === 'decode' && r.ratio < 2;
}

function printTable(header, rows, rightAlign) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cases = opts.cases ? CASES.filter((c) => opts.cases.includes(c.id)) : CASES;
  if (cases.length === 0) die(`no case matches ${opts.cases.join(',')}; ids: ${CASES.map((c) => c.id).join(', ')}`);

  const ed = await loadErldist(opts);
  const ejs = loadErlangJs();

  log('erl: compiling bench/erlang/codec_bench.erl and building the payloads...');
  const beam = Beam.start(opts);
  const erl = { payloads: await beam.ready(), otp: beam.otp };

  const results = [];
  const notes = [];
  for (const c of cases) {
    const bytes = erl.payloads[c.erl];
    const mapFree = !c.id.startsWith('small_map') && !c.id.startsWith('maps_');
    const info = { id: c.id, desc: c.desc, etfBytes: bytes.length, checks: [] };

    if (c.id === 'binary_1MiB') {
      const payload = bytes.subarray(6); // 131, 109, uint32 length
      info.checks.push(`payload is ${isUtf8(payload) ? 'VALID' : 'not valid'} UTF-8`);
      if (isUtf8(payload)) warn(`${c.id}: random payload happens to be valid UTF-8`);
    }
    if (c.id === 'ints_100k') {
      const tags = { 97: 0, 98: 0, 110: 0 };
      // walk the list: 131, 108, len(4), then elements
      let i = 6;
      while (bytes[i] !== 106) {
        const tag = bytes[i];
        tags[tag] = (tags[tag] ?? 0) + 1;
        i += tag === 97 ? 2 : tag === 98 ? 5 : 3 + bytes[i + 1];
      }
      info.checks.push(`${tags[97]} SMALL_INTEGER, ${tags[98]} INTEGER, ${tags[110]} SMALL_BIG`);
    }

    // erldist: decoded value, then the byte-for-byte check of re-encoding it.
    let edValue;
    let edOk = false;
    if (ed) {
      try {
        edValue = ed.decode(bytes);
        const re = ed.encode(edValue);
        const same = Buffer.compare(Buffer.from(re), bytes) === 0;
        if (same) info.checks.push('erldist re-encode == Erlang bytes');
        else if (mapFree) {
          warn(
            `${c.id}: erldist encode(decode(bytes)) differs from Erlang's bytes (${re.length} vs ${bytes.length} bytes, first difference at ${firstDiff(re, bytes)})`,
          );
          info.checks.push('erldist re-encode DIFFERS from Erlang bytes');
        } else {
          info.checks.push(`erldist re-encode differs (map; ${re.length} vs ${bytes.length} bytes)`);
        }
        if (c.id === 'binary_1MiB' && typeof edValue === 'string') {
          warn(`${c.id}: erldist decoded invalid UTF-8 as a string`);
        }
        edOk = true;
      } catch (err) {
        warn(`${c.id}: erldist failed: ${err.stack ?? err}`);
      }
    }

    // erlang_js: is it able to carry this payload faithfully?
    let ejsValue;
    let ejsOk = false;
    let ejsWhyNot = 'erlang_js unavailable';
    if (ejs) {
      try {
        const decoded = ejs.decode(bytes);
        ejsValue = edOk ? toErlangJs(edValue, ed, ejs.Erlang) : decoded;
        const re = ejs.encode(ejsValue);
        const reOwn = ejs.encode(decoded);
        if (Buffer.compare(re, bytes) === 0 && Buffer.compare(reOwn, bytes) === 0) {
          ejsOk = true;
          info.checks.push('erlang_js re-encode == Erlang bytes');
        } else {
          ejsWhyNot =
            c.id === 'ints_100k'
              ? 'erlang_js has no 64-bit integers (decodes them to lossy doubles, encodes bignums with 32-bit ops)'
              : `erlang_js cannot round-trip this payload (${re.length} vs ${bytes.length} bytes)`;
          info.checks.push(ejsWhyNot);
        }
      } catch (err) {
        ejsWhyNot = `erlang_js failed: ${err.message}`;
        info.checks.push(ejsWhyNot);
      }
    }
    if (!ejsOk) notes.push(`${c.id}: baseline is the BEAM, because ${ejsWhyNot}.`);

    for (const op of ['encode', 'decode']) {
      log(`timing ${c.id} ${op}...`);
      const row = { case: c.id, op, etfBytes: bytes.length };
      // Rounds alternate sides (BEAM, erldist, erlang_js, BEAM, ...); each side warms up once.
      const sides = [];
      if (edOk) {
        const fn = op === 'encode' ? () => ed.encode(edValue) : () => ed.decode(bytes);
        sides.push({ key: 'erldist', fn });
      }
      if (ejsOk) {
        const fn = op === 'encode' ? () => ejs.encode(ejsValue) : () => ejs.decode(bytes);
        sides.push({ key: 'erlang_js', fn });
      }
      // binary_1MiB: what any JS codec must do at least, timed in the same alternation: encode makes a
      // fresh Buffer the caller owns and copies the payload into it; decode makes one view of it.
      if (c.id === 'binary_1MiB') {
        const payload = bytes.subarray(6);
        const fn =
          op === 'encode'
            ? () => {
                const out = Buffer.allocUnsafe(bytes.length);
                out[0] = 131;
                out[1] = 109;
                out.writeUInt32BE(payload.length, 2);
                out.set(payload, 6);
                return out;
              }
            : () => bytes.subarray(6);
        sides.push({ key: 'floor', fn });
      }
      // nested_100 decode: only the allocation any decoder into erldist's term model makes (the same
      // 100 levels of arrays and tuples, built directly, nothing parsed or checked).
      if (c.id === 'nested_100' && op === 'decode' && edOk) {
        sides.push({ key: 'floor', fn: () => rebuild(edValue, ed) });
      }
      const rates = { beam: [], erldist: [], erlang_js: [], floor: [] };
      for (let r = 0; r < opts.rounds; r++) {
        rates.beam.push(await beam.round(c.erl, op, r === 0 ? opts.warmupMs : 0));
        for (const side of sides) {
          if (r === 0) side.n = prepare(side.fn, opts);
          rates[side.key].push(round(side.fn, side.n));
        }
      }
      for (const side of sides) row[side.key] = median(rates[side.key]);
      if (row.floor) {
        const f = row.floor.opsPerSec;
        const base = ejsOk ? row.erlang_js.opsPerSec : null;
        notes.push(
          `${c.id} ${op} floor (${FLOORS[`${c.id} ${op}`]}, same alternation): ` +
            `${fmtOps(f)} ops/s = ${(f / median(rates.beam).opsPerSec).toFixed(2)}x BEAM` +
            (base ? `, ${(f / base).toFixed(2)}x erlang_js` : '') +
            `; erldist reaches ${((row.erldist?.opsPerSec ?? 0) / f).toFixed(2)}x of it.`,
        );
      }
      row.beamOpsPerSec = median(rates.beam).opsPerSec;
      row.baseline = ejsOk ? 'erlang_js' : 'BEAM';
      row.baselineOpsPerSec = ejsOk ? row.erlang_js.opsPerSec : row.beamOpsPerSec;
      row.erldistOpsPerSec = row.erldist?.opsPerSec ?? null;
      row.erldistMBps = row.erldistOpsPerSec != null ? (row.erldistOpsPerSec * bytes.length) / 1e6 : null;
      row.ratio =
        row.erldistOpsPerSec != null && row.baselineOpsPerSec ? row.erldistOpsPerSec / row.baselineOpsPerSec : null;
      row.ratioVsBeam =
        row.erldistOpsPerSec != null && row.beamOpsPerSec ? row.erldistOpsPerSec / row.beamOpsPerSec : null;
      results.push(row);
    }
    info.rows = results.filter((r) => r.case === c.id);
    c.info = info;
  }
  beam.stop();

  // ------------------------------------------------------------------ report
  console.log(
    `erldist codec benchmark - Node ${process.version}, ${erl.otp ?? 'OTP ?'}, erlang_js ${ejs?.version ?? 'n/a'}`,
  );
  console.log(
    `ops/s = median of ${opts.rounds} rounds of ~${opts.roundMs} ms after ${opts.warmupMs} ms warm-up; ` +
      'rounds alternate sides; MB/s = 10^6 bytes of ETF per second; ratio = erldist / baseline (! = below the goal: decode 2x erlang_js; 0.5x the BEAM both ways)',
  );
  console.log('');
  for (const c of cases) {
    console.log(
      `  ${c.id.padEnd(12)} ${String(c.info.etfBytes).padStart(8)} B  ${c.desc}; ${c.info.checks.join('; ')}`,
    );
  }
  console.log('');
  const header = [
    'case',
    'op',
    'erldist ops/s',
    'MB/s',
    'baseline',
    'baseline ops/s',
    'ratio',
    'BEAM ops/s',
    'vs BEAM',
  ];
  const rows = results.map((r) => [
    r.case,
    r.op,
    fmtOps(r.erldistOpsPerSec),
    fmtMB(r.erldistMBps),
    r.baseline,
    fmtOps(r.baselineOpsPerSec),
    fmtRatio(r.ratio, missesGoal(r)),
    fmtOps(r.beamOpsPerSec),
    r.ratioVsBeam == null ? 'n/a' : `${r.ratioVsBeam.toFixed(2)}x${r.ratioVsBeam < 0.5 ? ' !' : ''}`,
  ]);
  printTable(header, rows, [false, false, true, true, false, true, true, true, true]);
  if (notes.length) {
    console.log('');
    for (const n of notes) console.log(`note: ${n}`);
  }
  const below = results.filter(missesGoal);
  const belowBeam = results.filter((r) => r.baseline !== 'BEAM' && r.ratioVsBeam != null && r.ratioVsBeam < 0.5);
  if (below.length || belowBeam.length) {
    const what = [
      ...below.map((r) => `${r.case} ${r.op} (${r.ratio.toFixed(2)}x vs ${r.baseline})`),
      ...belowBeam.map((r) => `${r.case} ${r.op} (${r.ratioVsBeam.toFixed(2)}x vs BEAM)`),
    ];
    console.log(`note: below the goal: ${what.join(', ')}`);
  }
  if (!ed) console.log('note: erldist columns are n/a because dist/index.js could not be loaded (build first).');

  if (opts.json) {
    const json = {
      date: new Date().toISOString(),
      node: process.version,
      otp: erl.otp,
      erlang_js: ejs?.version ?? null,
      erldist: ed?.source ?? null,
      settings: { roundMs: opts.roundMs, rounds: opts.rounds, warmupMs: opts.warmupMs },
      cases: cases.map((c) => ({ id: c.id, desc: c.desc, etfBytes: c.info.etfBytes, checks: c.info.checks })),
      results,
      notes,
    };
    writeFileSync(opts.json, `${JSON.stringify(json, null, 2)}\n`);
    log(`results written to ${opts.json}`);
  }
}

const FLOORS = {
  'binary_1MiB encode': 'fresh Buffer + one copy',
  'binary_1MiB decode': 'one subarray view',
  'nested_100 decode': 'the same arrays and tuples built directly, no parsing',
};

/** A fresh copy of the lists and tuples of `t` (leaves shared): what decoding them allocates. */
function rebuild(t, ed) {
  if (Array.isArray(t)) {
    const out = new Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = rebuild(t[i], ed);
    return out;
  }
  if (t instanceof ed.TupleClass) return new ed.TupleClass(rebuild(t.elements, ed));
  return t;
}

function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `byte ${i}`;
  return a.length === b.length ? 'none' : `byte ${n} (length)`;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  process.exit(1);
});
