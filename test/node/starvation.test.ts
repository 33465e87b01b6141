/**
 * A listener that cannot be starved (issue 9, item 6), between erldist nodes: idle and slowloris
 * sockets from the legitimate peer's own address (loopback) must not keep it out, pending
 * handshakes stay bounded, the first packet has its own deadline, and an eviction storm is reported
 * with a few events, not one per socket. Against a real Erlang node: test/interop/starvation.test.ts.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type ErldistError, type ListenOptions, type LocalNode } from '../../src/index.js';
import type { HandshakeErrorMessage } from '../../src/node/diagnostics.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { closeSocket, openSocket, sendName, startStorm } from '../support/storm.js';
import { eventually } from '../support/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function node(cookie: string): LocalNode {
  const n = createNode({ name: uniqueName('s'), cookie });
  cleanup.push(() => n.close());
  return n;
}

async function listening(cookie: string, options: ListenOptions = {}): Promise<{ b: LocalNode; port: number }> {
  const b = node(cookie);
  const { port } = await b.listen({ epmd: false, host: '127.0.0.1', ...options });
  return { b, port };
}

/** A raw socket to the listener, closed at the end of the test; resolves once connected. */
async function raw(port: number): Promise<Socket> {
  const socket = await openSocket(port);
  cleanup.push(() => closeSocket(socket));
  return socket;
}

/** A raw socket that sends a send_name as `name@127.0.0.1`; resolves once the listener answered `ok`. */
async function named(port: number, name: string): Promise<Socket> {
  const socket = await raw(port);
  const status = statusOf(socket);
  socket.write(sendName(`${name}@127.0.0.1`));
  expect(await status).toBe('ok');
  return socket;
}

/** Resolves with the handshake status packet the listener sends after a send_name. */
function statusOf(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.subarray(3, 2 + chunk.readUInt16BE(0)).toString('latin1')));
  });
}

describe('a listener under a connection storm', () => {
  it('300 idle and 70 slowloris sockets from the peer address: a peer still connects within 1 s, 5 times', async () => {
    const cookie = randomTestCookie();
    const { b, port } = await listening(cookie);
    const storm = await startStorm({ port, idle: 300, slowloris: 70, slowPayload: sendName('slow@127.0.0.1') });
    cleanup.push(() => storm.stop());
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = node(cookie);
      const t0 = performance.now();
      const peer = await a.connect(`${b.name}:${port}`, { timeout: 1000 });
      times.push(performance.now() - t0);
      expect(await peer.ping()).toBe(true);
      await a.close();
    }
    expect(Math.max(...times)).toBeLessThan(1000);
    // The storm kept its strength: the listener kept closing the attacker's sockets.
    expect(storm.closedByServer).toBeGreaterThan(300);
  });

  it('pending handshakes are bounded: a storm holds at most maxPendingHandshakes sockets open', async () => {
    const cookie = randomTestCookie();
    const { b, port } = await listening(cookie, { maxPendingHandshakes: 16 });
    const storm = await startStorm({ port, idle: 200 });
    cleanup.push(() => storm.stop());
    storm.hold();
    await eventually(() => storm.open <= 16, { what: 'at most 16 storm sockets open' });
    // And the newest connection is the one that gets in, not refused because the table is full.
    const a = node(cookie);
    expect(await (await a.connect(`${b.name}:${port}`, { timeout: 1000 })).ping()).toBe(true);
  });
});

describe('eviction order', () => {
  it('a full table evicts its oldest handshake without a send_name, never the newcomer', async () => {
    const { port } = await listening(randomTestCookie(), { maxPendingHandshakes: 4 });
    const named1 = await named(port, 'one');
    const idle1 = await raw(port);
    const named2 = await named(port, 'two');
    const idle2 = await raw(port);
    // Full (two named, two idle): a newcomer evicts idle1, the oldest without a send_name.
    const newcomer = await raw(port);
    await eventually(() => idle1.closed, { what: 'the oldest unnamed handshake evicted' });
    expect([named1.closed, named2.closed, idle2.closed, newcomer.closed]).toEqual([false, false, false, false]);
    // Once more than half the table awaits a challenge reply, the oldest of those goes.
    const named3 = await named(port, 'three');
    await eventually(() => idle2.closed, { what: 'the next unnamed handshake evicted' });
    const last = await raw(port);
    await eventually(() => named1.closed, { what: 'the oldest named handshake evicted' });
    expect([named2.closed, named3.closed, newcomer.closed, last.closed]).toEqual([false, false, false, false]);
  });

  it('named handshakes that stay silent do not push out a newcomer before its send_name', async () => {
    const cookie = randomTestCookie();
    const { b, port } = await listening(cookie, { maxPendingHandshakes: 16 });
    const storm = await startStorm({ port, idle: 0, named: 200, namedPayload: sendName('named@127.0.0.1') });
    cleanup.push(() => storm.stop());
    for (let i = 0; i < 3; i++) {
      const a = node(cookie);
      expect(await (await a.connect(`${b.name}:${port}`, { timeout: 1000 })).ping()).toBe(true);
      await a.close();
    }
    expect(storm.closedByServer).toBeGreaterThan(184);
  });
});

describe('deadlines', () => {
  it('a connection without a complete send_name is closed after firstPacketTimeout, the table not full', async () => {
    const { b, port } = await listening(randomTestCookie(), { firstPacketTimeout: 200 });
    const errors: ErldistError[] = [];
    b.on('handshakeError', (err) => errors.push(err));
    const slow = await raw(port);
    slow.write(sendName('slow@127.0.0.1').subarray(0, 5));
    const t0 = performance.now();
    await new Promise<void>((resolve) => slow.once('close', () => resolve()));
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(1000);
    await eventually(() => errors.length > 0, { what: 'a handshakeError' });
    expect(errors.map((e) => [e.code, e.step])).toEqual([['TIMEOUT', 'recvName']]);
  });

  it('firstPacketTimeout bounds the send_name only: then the handshake has the rest of handshakeTimeout', async () => {
    const { port } = await listening(randomTestCookie(), { firstPacketTimeout: 100, handshakeTimeout: 600 });
    const t0 = performance.now();
    const closedAt = (s: Socket) =>
      new Promise<number>((resolve) => s.once('close', () => resolve(performance.now() - t0)));
    const idle = await raw(port);
    const named = await raw(port);
    const idleClosed = closedAt(idle);
    const namedClosed = closedAt(named);
    const status = statusOf(named);
    named.write(sendName('named@127.0.0.1'));
    expect(await status).toBe('ok');
    expect(await idleClosed).toBeLessThan(450);
    expect(await namedClosed).toBeGreaterThanOrEqual(550);
    expect(await namedClosed).toBeLessThan(1500);
  });

  it('bad deadline and bound options: INVALID_ARGUMENT', async () => {
    for (const bad of [
      { firstPacketTimeout: 0 },
      { firstPacketTimeout: Number.NaN },
      { handshakeTimeout: -1 },
      { maxPendingHandshakes: 1.5 },
      { maxPendingHandshakes: -1 },
    ]) {
      const n = node('c');
      expect((await rejection(n.listen({ epmd: false, host: '127.0.0.1', ...bad }))).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('reporting', () => {
  it('an eviction storm gives a few handshakeError events, not one per socket', async () => {
    const cookie = randomTestCookie();
    const { b, port } = await listening(cookie, { maxPendingHandshakes: 8, handshakeTimeout: 100 });
    const errors: ErldistError[] = [];
    b.on('handshakeError', (err) => errors.push(err));
    const storm = await startStorm({ port, idle: 300 });
    cleanup.push(() => storm.stop());
    await eventually(() => storm.closedByServer > 2000, { what: '2000 storm sockets closed', timeout: 4000 });
    // One event per distinct cause (evicted, timed out), then a summary per cause at most every 10 s.
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(3);
    expect(errors.some((e) => e.message.includes('evicted'))).toBe(true);
    const a = node(cookie);
    expect(await (await a.connect(`${b.name}:${port}`, { timeout: 1000 })).ping()).toBe(true);
  });

  it('further failures of a kind within 10 s make one summary event; the channel gets each one', async () => {
    // On fake timers: no test waits 10 s.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const published: HandshakeErrorMessage[] = [];
    const onMessage = (m: unknown): void => {
      published.push(m as HandshakeErrorMessage);
    };
    subscribe('erldist:handshake:error', onMessage);
    try {
      const { b, port } = await listening(randomTestCookie(), { maxPendingHandshakes: 1 });
      const errors: ErldistError[] = [];
      b.on('handshakeError', (err) => errors.push(err));
      const sockets: Socket[] = [];
      for (let i = 0; i < 5; i++) sockets.push(await raw(port));
      await eventually(() => sockets.slice(0, 4).every((s) => s.closed), { what: 'four evictions' });
      await eventually(() => errors.length === 1, { what: 'the first eviction reported' });
      expect(errors[0]?.message).toContain('evicted');
      await eventually(() => published.length === 4, { what: 'four evictions published' });
      expect(published.every((m) => m.node === b.name && m.error.message.includes('evicted'))).toBe(true);
      await vi.advanceTimersByTimeAsync(10_000);
      const summary = errors.find((e) => e.message.startsWith('3 more incoming handshakes failed this way'));
      expect(summary?.message).toContain('evicted');
      expect(summary?.code).toBe('TIMEOUT');
    } finally {
      vi.useRealTimers();
      unsubscribe('erldist:handshake:error', onMessage);
    }
  });
});
