/**
 * node.serve between two erldist nodes: gen_server calls, casts and other messages, handlers that
 * throw or answer later, and the `From` tags gen:call uses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atom, From, ImproperList, type Term, Tuple, tuple } from '../../src/index.js';
import { type NodePair, nodePair } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { deferred, eventually } from '../support/wait.js';

let p: NodePair;
beforeEach(async () => {
  p = await nodePair();
});
afterEach(async () => {
  await p.close();
});

describe('serve: gen_server calls from a peer', () => {
  it('handleCall answers peer.call with its value, in order', async () => {
    const seen: Term[] = [];
    p.b.serve('kv', {
      handleCall: (req) => {
        seen.push(req);
        return tuple(atom('ok'), req);
      },
    });
    expect(await p.ab.call('kv', 1)).toStrictEqual(tuple(atom('ok'), 1));
    const both = await Promise.all([p.ab.call('kv', 'x'), p.ab.call('kv', [2, 3])]);
    expect(both).toStrictEqual([tuple(atom('ok'), 'x'), tuple(atom('ok'), [2, 3])]);
    expect(seen).toStrictEqual([1, 'x', [2, 3]]);
  });

  it('handleCall gets the caller as From: a pid of the calling node and an [alias | Ref] tag', async () => {
    let from: From | undefined;
    p.b.serve('who', {
      handleCall: (_req, f) => {
        from = f;
        return atom('ok');
      },
    });
    await p.ab.call('who', 'x');
    expect(from).toBeInstanceOf(From);
    expect(from?.pid.node).toBe(atom(p.a.name));
    // Both nodes take aliases: the tag names the call's alias, which is also its monitor (gen:call).
    expect(from?.tag).toStrictEqual(new ImproperList([atom('alias')], from?.monitorRef as Term));
    expect(from?.alias).toBe(from?.monitorRef);
  });

  it('a reply that comes later resolves the call then', async () => {
    const later = deferred<Term>();
    const started = deferred();
    p.b.serve('slow', {
      handleCall: () => {
        started.resolve();
        return later.promise;
      },
    });
    let settled = false;
    const call = p.ab.call('slow', 'q').finally(() => (settled = true));
    await started.promise;
    expect(settled).toBe(false);
    later.resolve(atom('done'));
    expect(await call).toBe(atom('done'));
  });

  it('a server without handleCall answers ok', async () => {
    p.b.serve('bare', {});
    expect(await p.ab.call('bare', tuple(atom('anything'), 1))).toBe(atom('ok'));
  });

  it('a throwing handleCall ends that call with CALL_EXIT; the server keeps serving', async () => {
    p.b.serve('fragile', {
      handleCall: (req) => {
        if (req === atom('boom')) throw new TypeError('kaboom');
        return req;
      },
    });
    const err = await rejection(p.ab.call('fragile', atom('boom')));
    expect(err.code).toBe('CALL_EXIT');
    expect(err.reason).toStrictEqual(tuple(atom('erldist_handler_error'), 'TypeError: kaboom'));
    expect(await p.ab.call('fragile', atom('fine'))).toBe(atom('fine'));
  });

  it('a handler that throws a non-Error gives its text', async () => {
    p.b.serve('odd', {
      handleCall: () => {
        throw 'plain string';
      },
    });
    expect((await rejection(p.ab.call('odd', 1))).reason).toStrictEqual(
      tuple(atom('erldist_handler_error'), 'plain string'),
    );
  });

  it('a call to a name nobody registered: NO_PROC at once', async () => {
    const err = await rejection(p.ab.call('nobody', 1, { timeout: 4000 }));
    expect(err.code).toBe('NO_PROC');
    expect(err.reason).toBe(atom('noproc'));
  });

  it('a call to a pid: the server answers; a closed server: NO_PROC', async () => {
    const box = p.b.serve('bypid', { handleCall: (req) => tuple(atom('pid'), req) });
    expect(await p.ab.call(box.pid, 7)).toStrictEqual(tuple(atom('pid'), 7));
    box.close();
    expect(p.b.whereis('bypid')).toBeUndefined();
    expect((await rejection(p.ab.call(box.pid, 7))).code).toBe('NO_PROC');
  });

  it('a server that closes during a call: CALL_EXIT with its exit reason', async () => {
    const started = deferred();
    const box = p.b.serve('dying', {
      handleCall: () => {
        started.resolve();
        return new Promise<Term>(() => {});
      },
    });
    const call = rejection(p.ab.call('dying', 1));
    await started.promise;
    box.close(atom('shutdown'));
    const err = await call;
    expect(err.code).toBe('CALL_EXIT');
    expect(err.reason).toBe(atom('shutdown'));
  });
});

describe('serve: casts and other messages', () => {
  it('handleCast gets peer.cast requests, handleInfo everything else; throwing ones keep serving', async () => {
    const got: [string, Term][] = [];
    const done = deferred();
    p.b.serve('sink', {
      handleCast: (req) => {
        got.push(['cast', req]);
        if (req === atom('bad')) throw new Error('cast failed');
      },
      handleInfo: (msg) => {
        got.push(['info', msg]);
        if (msg === atom('bad')) throw new Error('info failed');
        if (msg === atom('last')) done.resolve();
      },
      handleCall: (req) => req,
    });
    expect(p.ab.cast('sink', atom('bad'))).toBe(true);
    p.ab.cast('sink', 1);
    p.ab.send('sink', atom('bad'));
    p.ab.send('sink', tuple(atom('$gen_call'), 'not a from', 1));
    p.ab.send('sink', atom('last'));
    await done.promise;
    expect(got).toStrictEqual([
      ['cast', atom('bad')],
      ['cast', 1],
      ['info', atom('bad')],
      ['info', tuple(atom('$gen_call'), 'not a from', 1)],
      ['info', atom('last')],
    ]);
    expect(await p.ab.call('sink', 'still here')).toBe('still here');
  });

  it('a server with no cast or info handlers drops them and still answers calls', async () => {
    p.b.serve('quiet', { handleCall: () => atom('pong') });
    p.ab.cast('quiet', 1);
    p.ab.send('quiet', 2);
    expect(await p.ab.call('quiet', 'ping')).toBe(atom('pong'));
  });
});

describe('From tags (gen:call on OTP 24+ sends [alias | Ref])', () => {
  it('monitorRef reads a reference, [alias | Ref] and [alias, Ref]; anything else has none', () => {
    const ref = p.a.makeRef();
    const pid = p.a.makePid();
    expect(new From(pid, ref).monitorRef).toBe(ref);
    expect(new From(pid, new ImproperList([atom('alias')], ref)).monitorRef).toBe(ref);
    expect(new From(pid, [atom('alias'), ref]).monitorRef).toBe(ref);
    expect(new From(pid, atom('tag')).monitorRef).toBeUndefined();
    expect(new From(pid, new ImproperList([atom('other')], ref)).monitorRef).toBeUndefined();
  });

  it('From.alias reads [alias | A] and [[alias | A] | _]; a plain reference has none', () => {
    const ref = p.a.makeRef();
    const pid = p.a.makePid();
    const tag = new ImproperList([atom('alias')], ref);
    expect(new From(pid, tag).alias).toBe(ref);
    expect(new From(pid, new ImproperList([tag], p.a.makeRef())).alias).toBe(ref);
    expect(new From(pid, [tag, 1]).alias).toBe(ref);
    expect(new From(pid, ref).alias).toBeUndefined();
    expect(new From(pid, [atom('alias'), ref]).alias).toBeUndefined();
  });

  it('a raw $gen_call with an alias tag: the reply goes to the alias; a failing one reaches the monitor', async () => {
    const box = p.a.spawn();
    p.b.serve('raw', {
      handleCall: (req) => {
        if (req === atom('fail')) throw new Error('no');
        return atom('yes');
      },
    });
    const alias = box.alias();
    const aliasTag = new ImproperList([atom('alias')], alias);
    box.send('raw', tuple(atom('$gen_call'), tuple(box.pid, aliasTag), atom('ask')), p.ab);
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(aliasTag, atom('yes')));
    // No longer an alias: the reply is dropped, as the caller's node drops it after a timeout.
    expect(box.unalias(alias)).toBe(true);
    const dropped = p.a.stats.dropped;
    box.send('raw', tuple(atom('$gen_call'), tuple(box.pid, aliasTag), atom('ask')), p.ab);
    await eventually(() => p.a.stats.dropped === dropped + 1);
    expect(box.size).toBe(0);
    // As gen:call: the monitor's reference is the alias.
    const monitor = box.monitor('raw', p.ab, { alias: 'demonitor' });
    const tag = new ImproperList([atom('alias')], monitor.ref);
    box.send('raw', tuple(atom('$gen_call'), tuple(box.pid, tag), atom('ask')), p.ab);
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(tag, atom('yes')));
    box.send('raw', tuple(atom('$gen_call'), tuple(box.pid, tag), atom('fail')), p.ab);
    const down = await box.receive({ timeout: 2000 });
    expect(down).toBeInstanceOf(Tuple);
    expect((down as Tuple).elements.slice(0, 3)).toStrictEqual([atom('DOWN'), monitor.ref, atom('process')]);
    expect(await monitor.down).toStrictEqual(tuple(atom('erldist_handler_error'), 'Error: no'));
  });

  it('a failing call whose caller holds no monitor: nobody is told, the server goes on', async () => {
    const box = p.a.spawn();
    p.b.serve('unwatched', {
      handleCall: (req) => {
        if (req === atom('fail')) throw new Error('no');
        return req;
      },
    });
    const ref = p.a.makeRef();
    box.send('unwatched', tuple(atom('$gen_call'), tuple(box.pid, ref), atom('fail')), p.ab);
    box.send('unwatched', tuple(atom('$gen_call'), tuple(box.pid, ref), atom('next')), p.ab);
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(ref, atom('next')));
  });
});
