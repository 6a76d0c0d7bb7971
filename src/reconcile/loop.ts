/**
 * The reconcile loop: events only request a pass; pending requests coalesce into one;
 * passes never overlap; a timer forces a full resync; a failed pass is retried with
 * exponential backoff. A pass returns every failure it met (`{ failures }`), it does not
 * stop at the first, and only the loop logs them.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../util/clock.js';

export interface PassResult {
  failures: readonly Error[];
}

export type Pass = (reason: string) => Promise<PassResult>;

export interface LoopOptions {
  name: string;
  pass: Pass;
  logger: Logger;
  /** Full resync period; 0 disables. */
  resyncMs: number;
  backoff?: { initialMs: number; maxMs: number };
  clock?: Clock;
  /** Called after every pass with its outcome and duration (metrics, health). */
  onPass?: (outcome: 'ok' | 'failed', durationMs: number, result: PassResult) => void;
}

export class ReconcileLoop {
  private readonly o: Required<Omit<LoopOptions, 'onPass'>> & Pick<LoopOptions, 'onPass'>;
  private running = false;
  private pending: string | undefined;
  private retryTimer: unknown;
  private resyncTimer: unknown;
  private failuresInRow = 0;
  private stopped = true;
  private idleWaiters: Array<() => void> = [];
  private passes = 0;

  constructor(opts: LoopOptions) {
    this.o = { backoff: { initialMs: 200, maxMs: 30_000 }, clock: systemClock, ...opts };
  }

  get passCount(): number {
    return this.passes;
  }

  start(): void {
    this.stopped = false;
    this.trigger('start');
  }

  /**
   * No more passes until start(). A pass already running finishes. A retry that was waiting
   * out its backoff is dropped with its backoff: start() begins afresh with a pass at once.
   */
  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.retryTimer);
    this.o.clock.clearTimeout(this.resyncTimer);
    // A cleared handle left in the field would make every later trigger wait for a retry
    // that never fires: after stop() → start() the loop would never run again.
    this.retryTimer = undefined;
    this.resyncTimer = undefined;
    this.pending = undefined;
    this.failuresInRow = 0;
  }

  /** Ask for a pass. Requests made while a pass runs coalesce into one more pass. */
  trigger(reason: string): void {
    if (this.stopped) return;
    // While a pass runs, or while a retry waits out its backoff, requests only coalesce:
    // event churn must not turn a failing step into a tight loop.
    if (this.running || (this.retryTimer !== undefined && reason !== 'retry')) {
      this.pending ??= reason;
      return;
    }
    this.o.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.runPass(reason);
  }

  /** Resolves when no pass is running or due now (one waiting out a backoff is not due). */
  idle(): Promise<void> {
    if (!this.running && (this.pending === undefined || this.retryTimer !== undefined)) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async runPass(reason: string): Promise<void> {
    this.running = true;
    // This pass reads the state as it is now, so it covers every request made before it.
    this.pending = undefined;
    this.o.clock.clearTimeout(this.resyncTimer);
    const t0 = this.o.clock.now();
    let result: PassResult;
    try {
      result = await this.o.pass(reason);
    } catch (err) {
      result = { failures: [err instanceof Error ? err : new Error(String(err))] };
    }
    const ms = this.o.clock.now() - t0;
    this.passes++;
    const failed = result.failures.length > 0;
    this.o.onPass?.(failed ? 'failed' : 'ok', ms, result);
    if (failed) {
      this.failuresInRow++;
      const delay = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** (this.failuresInRow - 1));
      for (const err of result.failures) this.o.logger.error({ loop: this.o.name, reason, err, retryInMs: delay }, 'reconcile pass failed');
      if (!this.stopped) this.retryTimer = this.o.clock.setTimeout(() => this.trigger('retry'), delay);
    } else {
      if (this.failuresInRow > 0) this.o.logger.info({ loop: this.o.name, after: this.failuresInRow }, 'reconcile recovered');
      this.failuresInRow = 0;
      this.o.logger.debug({ loop: this.o.name, reason, ms }, 'reconcile pass done');
    }
    if (!this.stopped && this.o.resyncMs > 0) this.resyncTimer = this.o.clock.setTimeout(() => this.trigger('resync'), this.o.resyncMs);
    this.running = false;
    // After a failure the retry covers what came in meanwhile.
    const next = failed ? undefined : this.pending;
    this.pending = undefined;
    if (next !== undefined && !this.stopped) {
      this.trigger(next);
      return;
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
