/**
 * A manual clock for unit tests: time stands still until the test advances it. `advance(ms)`
 * fires every timer that falls due, earliest first (ties in the order they were set), each
 * at its own instant, and lets promise chains run between timers, so code like
 * `await client.get(); ...; setTimeout(next, 50)` behaves as it would on wall time, only
 * without the waiting.
 */
import type { Clock, TimerHandle } from '../../src/util/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * Lets every pending promise continuation run. A macrotask (setImmediate) comes only after
 * the whole microtask queue has drained, however long its chains; real I/O callbacks due
 * by then also run.
 */
export const flush = () => new Promise<void>((r) => setImmediate(r));

export class FakeClock implements Clock {
  static maxTimersPerInstant = 10_000;
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  /** Starts at a realistic epoch time, so "0 = never" sentinels in the code under test stay far in the past. */
  constructor(start = Date.UTC(2024, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms || 0), seq: id, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Delays of the pending timers from now, shortest first. */
  pending(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing due timers in order and settling promises between them. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await flush();
    let sameInstant = 0;
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.timers.delete(next.seq);
      sameInstant = next.at === this.t ? sameInstant + 1 : 0;
      // Code that keeps re-arming a 0 ms timer would spin here for ever: fail instead of hanging.
      if (sameInstant > FakeClock.maxTimersPerInstant) throw new Error(`FakeClock: more than ${FakeClock.maxTimersPerInstant} timers fired at one instant (a 0 ms timer loop?)`);
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = target;
    await flush();
  }

  /**
   * Advances in `stepMs` steps until `done()` holds or `maxMs` has passed; returns the time
   * it took (fake ms), measured at step granularity.
   */
  async advanceUntil(done: () => boolean, opts: { stepMs?: number; maxMs: number }): Promise<number> {
    const step = opts.stepMs ?? 1;
    const t0 = this.t;
    await flush();
    while (!done() && this.t - t0 < opts.maxMs) await this.advance(step);
    return this.t - t0;
  }

  /** Advances until `p` settles (at most `maxMs`), then returns (or throws) what it settled with. */
  async settle<T>(p: Promise<T>, opts: { stepMs?: number; maxMs?: number } = {}): Promise<T> {
    let settled = false;
    const tracked = p.finally(() => (settled = true));
    tracked.catch(() => undefined);
    await this.advanceUntil(() => settled, { stepMs: opts.stepMs ?? 1, maxMs: opts.maxMs ?? 60_000 });
    if (!settled) throw new Error(`still pending after ${opts.maxMs ?? 60_000} ms of fake time`);
    return tracked;
  }

  private nextDue(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers.values()) if (x.at <= target && (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq))) best = x;
    return best;
  }
}
