/**
 * Time as a dependency. Components that wait (backoff, lease renewal, retry timers) take a
 * `Clock` in their constructor deps and default to `systemClock`; unit tests pass a manual
 * clock (test/unit/fake-clock.ts) and move time forward themselves instead of sleeping.
 */

/** A timer handle: opaque, only ever given back to the same clock's clearTimeout. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch (Date.now() on the system clock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Accepts undefined and handles of timers that already fired. */
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
};

/** A source of uniform numbers in [0, 1) for jitter (Math.random in production). */
export type Random = () => number;
