import { TimeoutError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';

/** Resolves after `ms` on `clock` (wall time by default). */
export const sleep = (ms: number, clock: Clock = systemClock) => new Promise<void>((r) => clock.setTimeout(r, ms));

/** Poll `probe` until it returns a non-undefined value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new TimeoutError(what, timeoutMs, { cause: last });
    await sleep(intervalMs);
  }
}
