/**
 * Timeouts of many waits that share a duration (a peer's calls: almost always the default 5 s)
 * with one timer per duration instead of one per wait. Waits of one duration expire in the order
 * they began, so each duration is a queue whose timer is armed for its head; a wait that ends
 * leaves its queue in O(1). Sequential calls arm a timer once per duration, not once per call
 * (setTimeout and clearTimeout were about 1.4 us of a 55 us rpc round trip).
 */

/** Node runs longer delays after 1 ms (TimeoutOverflowWarning): a lane re-arms in steps of this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Monotonic ms, as Node's timers count (a wall-clock jump must not expire or delay waits). */
const now = () => performance.now();

/** What waits: told once its deadline passed. */
export interface Expiring {
  expired(): void;
}

/** A wait with a deadline: linked into its lane while it waits. */
export class Deadline {
  prev: Deadline | undefined;
  next: Deadline | undefined;
  lane: Lane | undefined;
  at = 0;

  constructor(readonly target: Expiring) {}

  /** Stops waiting for the deadline (the wait ended otherwise); idempotent. */
  cancel(): void {
    this.lane?.remove(this);
  }
}

class Lane {
  private head: Deadline | undefined;
  private tail: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private firing = false;

  constructor(
    private readonly ms: number,
    /** Called when the lane's timer finds it empty: it is dropped. */
    private readonly drop: () => void,
  ) {}

  add(d: Deadline, at: number): void {
    d.at = at + this.ms;
    d.lane = this;
    d.prev = this.tail;
    d.next = undefined;
    if (this.tail) this.tail.next = d;
    else this.head = d;
    this.tail = d;
    if (this.firing) return; // armed for the head when the expiries are done
    // Armed for the head; a wait added later expires no sooner. Unreferenced while the lane is
    // empty, so that an idle lane does not keep the process alive.
    if (this.timer === undefined) this.timer = setTimeout(this.fire, Math.min(this.ms, MAX_TIMER_MS));
    else if (this.head === d) this.timer.ref();
  }

  remove(d: Deadline): void {
    if (d.lane !== this) return;
    if (d.prev) d.prev.next = d.next;
    else this.head = d.next;
    if (d.next) d.next.prev = d.prev;
    else this.tail = d.prev;
    d.prev = d.next = d.lane = undefined;
    if (this.head === undefined) this.timer?.unref();
  }

  private readonly fire = () => {
    this.timer = undefined;
    this.firing = true;
    try {
      const t = now();
      for (let d = this.head; d !== undefined && d.at <= t; d = this.head) {
        this.remove(d);
        d.target.expired();
      }
    } finally {
      this.firing = false;
      if (this.head === undefined) this.drop();
      else this.timer = setTimeout(this.fire, Math.min(Math.max(1, this.head.at - now()), MAX_TIMER_MS));
    }
  };
}

/** Lanes kept at most; waits of other durations get a lane of their own that is not kept. */
const MAX_LANES = 32;

/** One set of lanes (one per duration in ms). */
export class Deadlines {
  private readonly lanes = new Map<number, Lane>();

  /** Tells `target` after `ms` that it expired, unless the returned deadline is cancelled first. */
  start(ms: number, target: Expiring): Deadline {
    const d = new Deadline(target);
    let lane = this.lanes.get(ms);
    if (lane === undefined) {
      const keep = this.lanes.size < MAX_LANES;
      lane = new Lane(ms, () => {
        if (this.lanes.get(ms) === lane) this.lanes.delete(ms);
      });
      if (keep) this.lanes.set(ms, lane);
    }
    lane.add(d, now());
    return d;
  }
}
