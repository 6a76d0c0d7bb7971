/**
 * Health from heartbeats: each reconciler reports its passes. Alive while no loop has gone
 * without a pass (ok or failed) for longer than `staleMs` — a wedged loop fails /healthz.
 * Ready once every loop has completed one successful pass.
 */
import type { HealthSource } from '../observability/http.js';

interface Beat {
  lastPass: number;
  everOk: boolean;
  lastOutcome: 'ok' | 'failed';
}

export class Heartbeats implements HealthSource {
  private readonly beats = new Map<string, Beat>();
  constructor(
    private readonly names: readonly string[],
    private readonly staleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  beat(name: string, outcome: 'ok' | 'failed'): void {
    const prev = this.beats.get(name);
    this.beats.set(name, { lastPass: this.now(), everOk: (prev?.everOk ?? false) || outcome === 'ok', lastOutcome: outcome });
  }

  liveness(): string | undefined {
    const t = this.now();
    const stale = [...this.beats].filter(([, b]) => t - b.lastPass > this.staleMs).map(([n]) => n);
    return stale.length ? `no reconcile pass for ${this.staleMs} ms: ${stale.join(', ')}` : undefined;
  }

  readiness(): string | undefined {
    const waiting = this.names.filter((n) => !this.beats.get(n)?.everOk);
    return waiting.length ? `waiting for a first successful pass: ${waiting.join(', ')}` : this.liveness();
  }
}
