import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../src/node/deadlines.js';
import { waitFor } from '../../src/wait.js';

describe('Deadlines', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const waiter = (log: string[], name: string) => ({ expired: () => log.push(`${name}@${Date.now()}`) });

  it('expires waits of one duration in order, each at its own deadline', () => {
    const d = new Deadlines();
    const log: string[] = [];
    const t0 = Date.now();
    d.start(100, waiter(log, 'a'));
    vi.advanceTimersByTime(30);
    d.start(100, waiter(log, 'b'));
    vi.advanceTimersByTime(69);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual([`a@${t0 + 100}`]);
    vi.advanceTimersByTime(29);
    expect(log).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(log).toEqual([`a@${t0 + 100}`, `b@${t0 + 130}`]);
  });

  it('a cancelled wait never expires, and the next one still does on time', () => {
    const d = new Deadlines();
    const log: string[] = [];
    const t0 = Date.now();
    const a = d.start(50, waiter(log, 'a'));
    vi.advanceTimersByTime(10);
    d.start(50, waiter(log, 'b'));
    a.cancel();
    a.cancel();
    vi.advanceTimersByTime(100);
    expect(log).toEqual([`b@${t0 + 60}`]);
  });

  it('keeps separate durations apart', () => {
    const d = new Deadlines();
    const log: string[] = [];
    d.start(300, waiter(log, 'long'));
    d.start(100, waiter(log, 'short'));
    vi.advanceTimersByTime(300);
    expect(log.map((l) => l.split('@')[0])).toEqual(['short', 'long']);
  });

  it('a wait started from an expiry gets its full duration', () => {
    const d = new Deadlines();
    const log: string[] = [];
    const t0 = Date.now();
    const first = {
      expired: () => {
        log.push('first');
        d.start(40, waiter(log, 'second'));
      },
    };
    d.start(40, first);
    vi.advanceTimersByTime(79);
    expect(log).toEqual(['first']);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['first', `second@${t0 + 80}`]);
  });

  it('a timeout past the longest timer Node takes neither expires early nor wakes every millisecond', () => {
    const d = new Deadlines();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const log: string[] = [];
    d.start(2 ** 32, waiter(log, 'far'));
    vi.advanceTimersByTime(10_000);
    expect(log).toEqual([]);
    expect(spy.mock.calls.length).toBe(1);
    spy.mockRestore();
  });

  it('a wall-clock jump neither expires a wait nor delays it (monotonic time)', () => {
    const d = new Deadlines();
    const log: string[] = [];
    d.start(1000, { expired: () => log.push('a') });
    vi.advanceTimersByTime(500);
    d.start(1000, { expired: () => log.push('b') });
    vi.setSystemTime(Date.now() + 3_600_000);
    vi.advanceTimersByTime(499);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a']);
    vi.advanceTimersByTime(499);
    expect(log).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a', 'b']);
  });

  it('sequential waits that end in time arm one timer, not one each', () => {
    const d = new Deadlines();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 1000; i++) d.start(5000, { expired: () => {} }).cancel();
    expect(spy.mock.calls.length).toBe(1);
    spy.mockRestore();
  });
});

describe('waitFor', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a timeout past the longest timer Node takes is waited for in steps, not fired after 1 ms', async () => {
    let settled: string | undefined;
    waitFor({ timeout: 2 ** 31 + 5000 }, 'a long wait', () => () => {}).catch((err) => {
      settled = err.code;
    });
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5000);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe('TIMEOUT');
  });
});
