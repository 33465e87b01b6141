/**
 * node.expose reached from another erldist node: through erpc (a SPAWN_REQUEST, what peer.rpc and
 * OTP's rpc:call use when the peer has DFLAG_SPAWN) and through rex (`$gen_call`, `$gen_cast` and
 * the C interface's `{Pid, {call, ...}}`), plus ping and the node's own `rex` and `net_kernel`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atom, type Term, Tuple, tuple } from '../../src/index.js';
import type { CallPort } from '../../src/node/requests.js';
import { type NodePair, nodePair } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { deferred } from '../support/wait.js';

let p: NodePair;
beforeEach(async () => {
  p = await nodePair();
  p.b.expose('calc', {
    add: (x, y) => (x as number) + (y as number),
    later: async (x) => x,
    boom: () => {
      throw new RangeError('out of range');
    },
  });
});
afterEach(async () => {
  await p.close();
});

const rexCall = (m: string, f: string, args: Term[]) => tuple(atom('call'), atom(m), atom(f), args, atom('user'));

describe('expose through erpc (peer.rpc on a peer with DFLAG_SPAWN)', () => {
  it('returns the function value, sync or async', async () => {
    expect(await p.ab.rpc('calc', 'add', [2, 3])).toBe(5);
    expect(await p.ab.rpc(atom('calc'), atom('later'), [tuple(atom('x'), 1)])).toStrictEqual(tuple(atom('x'), 1));
  });

  it('an unknown function: BAD_RPC with {EXIT, {undef, [{M, F, Args, []}]}}', async () => {
    const err = await rejection(p.ab.rpc('calc', 'nope', [1]));
    expect(err.code).toBe('BAD_RPC');
    expect(err.reason).toStrictEqual(
      tuple(atom('EXIT'), tuple(atom('undef'), [tuple(atom('calc'), atom('nope'), [1], [])])),
    );
    const mod = await rejection(p.ab.rpc('no_module', 'f', []));
    expect(mod.reason).toStrictEqual(
      tuple(atom('EXIT'), tuple(atom('undef'), [tuple(atom('no_module'), atom('f'), [], [])])),
    );
  });

  it('a throwing function: BAD_RPC with the error text and {M, F, Arity, []}', async () => {
    const err = await rejection(p.ab.rpc('calc', 'boom', [1, 2]));
    expect(err.code).toBe('BAD_RPC');
    expect(err.reason).toStrictEqual(
      tuple(
        atom('EXIT'),
        tuple(tuple(atom('erldist_handler_error'), 'RangeError: out of range'), [
          tuple(atom('calc'), atom('boom'), 2, []),
        ]),
      ),
    );
  });

  it('args must be an array', async () => {
    await expect(p.ab.rpc('calc', 'add', 1 as unknown as Term[])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('expose rejects what is not a function', () => {
    expect(() => p.b.expose('calc', { x: 1 as unknown as () => Term })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('a function exposed later, in a module that exists, is found', async () => {
    p.b.expose('calc', { neg: (x) => -(x as number) });
    expect(await p.ab.rpc('calc', 'neg', [4])).toBe(-4);
    expect(await p.ab.rpc('calc', 'add', [1, 1])).toBe(2);
  });
});

describe('expose through rex (gen_server calls and casts to rex)', () => {
  it('{call, M, F, A, user} answers the value', async () => {
    expect(await p.ab.call('rex', rexCall('calc', 'add', [20, 22]))).toBe(42);
  });

  it('unknown and throwing functions answer {badrpc, {EXIT, Reason}} as rex does', async () => {
    expect(await p.ab.call('rex', rexCall('calc', 'nope', [1]))).toStrictEqual(
      tuple(atom('badrpc'), tuple(atom('EXIT'), tuple(atom('undef'), [tuple(atom('calc'), atom('nope'), [1], [])]))),
    );
    expect(await p.ab.call('rex', rexCall('calc', 'boom', []))).toStrictEqual(
      tuple(
        atom('badrpc'),
        tuple(
          atom('EXIT'),
          tuple(tuple(atom('erldist_handler_error'), 'RangeError: out of range'), [
            tuple(atom('calc'), atom('boom'), 0, []),
          ]),
        ),
      ),
    );
  });

  it('calls run side by side: a slow one does not hold up a fast one', async () => {
    const gate = deferred<Term>();
    p.b.expose('gate', { wait: () => gate.promise });
    let slowDone = false;
    const slow = p.ab.call('rex', rexCall('gate', 'wait', [])).then((v) => {
      slowDone = true;
      return v;
    });
    expect(await p.ab.call('rex', rexCall('calc', 'add', [1, 2]))).toBe(3);
    expect(slowDone).toBe(false);
    gate.resolve(atom('opened'));
    expect(await slow).toBe(atom('opened'));
  });

  it('{cast, M, F, A, user} runs the function and answers nothing', async () => {
    const called = deferred<Term[]>();
    p.b.expose('side', {
      effect: (...args) => {
        called.resolve(args);
        return atom('ignored');
      },
    });
    expect(p.ab.cast('rex', tuple(atom('cast'), atom('side'), atom('effect'), [1, 'two'], atom('user')))).toBe(true);
    expect(await called.promise).toStrictEqual([1, 'two']);
  });

  it('the C interface form {Pid, {call, M, F, A, GL}} is answered {rex, Result} to Pid', async () => {
    const box = p.a.spawn();
    box.send('rex', tuple(box.pid, rexCall('calc', 'add', [5, 6])), p.ab);
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('rex'), 11));
  });

  it('requests rex does not know are ignored, and rex keeps serving', async () => {
    const box = p.a.spawn();
    box.send('rex', atom('garbage'), p.ab);
    box.send('rex', tuple(box.pid, atom('not_a_call')), p.ab);
    p.ab.cast('rex', atom('not_a_cast'));
    const ignored = p.ab.call('rex', tuple(atom('call'), 'not an atom', atom('f'), [], atom('user')), { timeout: 100 });
    expect((await rejection(ignored)).code).toBe('TIMEOUT');
    expect(await p.ab.call('rex', rexCall('calc', 'add', [0, 1]))).toBe(1);
    expect(box.size).toBe(0);
  });
});

describe('ping and net_kernel', () => {
  it('ping is true over an open connection; net_kernel answers is_auth with yes', async () => {
    expect(await p.ab.ping()).toBe(true);
    expect(await p.ba.ping()).toBe(true);
    expect(await p.ab.call('net_kernel', tuple(atom('is_auth'), atom(p.a.name)))).toBe(atom('yes'));
  });

  it('ping on a closed connection is false; a pre-aborted signal rejects ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(p.ab.ping({ signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    await p.ab.close();
    expect(await p.ab.ping()).toBe(false);
  });
});

describe('spawn on a peer (erlang:spawn_request)', () => {
  it('runs an exposed function; link and monitor report its normal exit', async () => {
    const ran = deferred<Term[]>();
    p.b.expose('job', {
      run: (...args) => {
        ran.resolve(args);
        return atom('ignored');
      },
    });
    const box = p.a.spawn();
    const spawned = await p.ab.spawn('job', 'run', [1, 2], { box, link: true, monitor: true });
    expect(spawned.pid.node).toBe(atom(p.b.name));
    expect(await ran.promise).toStrictEqual([1, 2]);
    const { monitor } = spawned;
    if (!monitor) throw new Error('spawn with monitor: true gave no monitor');
    expect(await monitor.down).toBe(atom('normal'));
    const got = [await box.receive({ timeout: 2000 }), await box.receive({ timeout: 2000 })];
    expect(got).toContainEqual(tuple(atom('DOWN'), monitor.ref, atom('process'), spawned.pid, atom('normal')));
    expect(got).toContainEqual(tuple(atom('EXIT'), spawned.pid, atom('normal')));
  });

  it('a throwing function exits with the error; an unknown one with undef', async () => {
    p.b.expose('job', {
      fail: () => {
        throw new Error('job failed');
      },
    });
    const box = p.a.spawn();
    const failed = await p.ab.spawn('job', 'fail', [], { box, monitor: true });
    expect(await failed.monitor?.down).toStrictEqual(
      tuple(tuple(atom('erldist_handler_error'), 'Error: job failed'), [tuple(atom('job'), atom('fail'), 0, [])]),
    );
    const unknown = await p.ab.spawn('job', 'missing', [7], { box, monitor: true });
    expect(await unknown.monitor?.down).toStrictEqual(
      tuple(atom('undef'), [tuple(atom('job'), atom('missing'), [7], [])]),
    );
  });

  it('without link or monitor no box is needed; with them it is (INVALID_ARGUMENT)', async () => {
    const ran = deferred();
    p.b.expose('job', {
      quiet: () => {
        ran.resolve();
        return atom('ok');
      },
    });
    const spawned = await p.ab.spawn('job', 'quiet');
    expect(spawned.monitor).toBeUndefined();
    await ran.promise;
    await expect(p.ab.spawn('job', 'quiet', [], { link: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(p.ab.spawn('job', 'quiet', [], { monitor: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('erpc:execute_cast runs the function; erpc:execute_call exits with {Ref, return, Value}', async () => {
    const cast = deferred<Term[]>();
    p.b.expose('job', {
      cast: (...args) => {
        cast.resolve(args);
        return atom('ok');
      },
    });
    const box = p.a.spawn();
    const c = await p.ab.spawn('erpc', 'execute_cast', [atom('job'), atom('cast'), ['x']], { box, monitor: true });
    expect(await cast.promise).toStrictEqual(['x']);
    expect(await c.monitor?.down).toBe(atom('normal'));
    const ref = p.a.makeRef();
    const call = await p.ab.spawn('erpc', 'execute_call', [ref, atom('calc'), atom('add'), [1, 2]], {
      box,
      monitor: true,
    });
    const reason = await call.monitor?.down;
    expect(reason).toBeInstanceOf(Tuple);
    expect(reason).toStrictEqual(tuple(ref, atom('return'), 3));
    const missing = await p.ab.spawn('erpc', 'execute_call', [ref, atom('calc'), atom('nope'), []], {
      box,
      monitor: true,
    });
    expect(await missing.monitor?.down).toStrictEqual(
      tuple(ref, atom('error'), atom('undef'), [tuple(atom('calc'), atom('nope'), [], [])]),
    );
  });

  it('a pending spawn rejects NODE_DOWN when the connection closes; spawn on a closed one too', async () => {
    await p.ab.close();
    await expect(p.ab.spawn('job', 'run')).rejects.toMatchObject({ code: 'NODE_DOWN' });
  });
});

describe('call options', () => {
  it('a signal that is not an AbortSignal rejects INVALID_ARGUMENT and leaves no call waiting', async () => {
    const bad = { aborted: false } as unknown as AbortSignal;
    const e = await rejection(p.ab.rpc('calc', 'add', [1, 2], { signal: bad, timeout: 50 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    const e2 = await rejection(p.ab.call('nobody', atom('x'), { signal: bad, timeout: 50 }));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    // A call left in the table would time out into a rejection nobody holds.
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      await new Promise((r) => setTimeout(r, 120));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(await p.ab.rpc('calc', 'add', [1, 2])).toBe(3);
  });
});

describe('rpc before the first handshake', () => {
  it('waits for it, then goes through erpc or rex by the flags it agreed, within the one timeout', async () => {
    const { rpc } = await import('../../src/node/requests.js');
    const { DFLAG } = await import('../../src/distribution/flags.js');
    const { Pid, Reference } = await import('../../src/index.js');
    const me = atom('me@host');
    for (const [agreed, path] of [
      [DFLAG.SPAWN, /^rpc m:f\/0 on peer@host$/],
      [0n, /^call to rex on peer@host$/],
    ] as const) {
      let flags: bigint | undefined;
      const started: { what: string; timeout: number | undefined }[] = [];
      const port = {
        name: 'peer@host',
        get flags() {
          return flags;
        },
        callerPid: new Pid(me, 1, 0, 1),
        nodeAtom: me,
        makeRef: () => new Reference(me, 1, [1, 0, 0]),
        addLink: () => {},
        addMonitor: () => ({ ref: new Reference(me, 1, [2, 0, 0]), down: new Promise<Term>(() => {}) }),
        trySend: () => {},
        ready: async () => {
          await new Promise((r) => setTimeout(r, 20));
          flags = agreed;
        },
        startCall: <T>(_ref: unknown, what: string, options: { timeout?: number }): Promise<T> => {
          started.push({ what, timeout: options.timeout });
          return Promise.resolve(atom('done') as T);
        },
      };
      expect(await rpc(port as unknown as CallPort, 'm', 'f', [], { timeout: 1000 })).toBe(atom('done'));
      expect(started).toHaveLength(1);
      expect(started[0]?.what).toMatch(path);
      // The time spent waiting for the handshake comes off the call's timeout.
      expect(started[0]?.timeout).toBeLessThanOrEqual(990);
    }
  });
});

describe('withDefaultTimeout', () => {
  it('is { timeout: 5000, ...options } without a copy when options name no timeout', async () => {
    const { withDefaultTimeout, DEFAULT_CALL_TIMEOUT } = await import('../../src/node/requests.js');
    expect(withDefaultTimeout({}).timeout).toBe(DEFAULT_CALL_TIMEOUT);
    expect(withDefaultTimeout(null).timeout).toBe(DEFAULT_CALL_TIMEOUT);
    expect(withDefaultTimeout(undefined).timeout).toBe(DEFAULT_CALL_TIMEOUT);
    const own = { timeout: undefined };
    expect(withDefaultTimeout(own)).toBe(own); // an own undefined timeout waits forever, as the spread did
    const signal = new AbortController().signal;
    expect(withDefaultTimeout({ signal })).toEqual({ timeout: DEFAULT_CALL_TIMEOUT, signal });
    expect(withDefaultTimeout({ timeout: 10 }).timeout).toBe(10);
  });
});
