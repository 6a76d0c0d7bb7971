/**
 * Leader election on a coordination.k8s.io/v1 Lease, so exactly one agent allocates IPs.
 *
 * The algorithm of client-go's leaderelection: a candidate that sees another holder waits
 * until the lease record has not changed for leaseDuration *by its own clock* (it never
 * compares clocks with the holder), then takes the lease with an optimistic-concurrency
 * update. The holder renews every retryPeriod; if it cannot renew within renewDeadline it
 * stops leading (renewDeadline < leaseDuration, so it stops before anyone else can start).
 * On a clean stop the holder releases the lease so a successor need not wait.
 */
import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BgpvsError, ConfigError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** The three calls leader election makes (CoordinationV1Api in production). */
export interface LeaseClient {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

export class LeaseConflictError extends BgpvsError {}

/** An attempt outlived by a newer one (it hung past renewDeadline); its answer is ignored. */
class AbandonedAttempt extends BgpvsError {}

/**
 * lease duration > renew deadline > retry period > 0, else a ConfigError naming the setting:
 * a renew deadline at or past the lease duration lets a successor start while we still act.
 */
export function validateLeaseTimings(t: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }, names = { lease: 'lease duration', renew: 'renew deadline', retry: 'retry period' }): void {
  if (!(t.retryPeriodMs > 0)) throw new ConfigError(names.retry, `must be positive (got ${t.retryPeriodMs} ms)`);
  if (!(t.renewDeadlineMs > t.retryPeriodMs)) throw new ConfigError(names.renew, `must be longer than the ${names.retry} (${t.renewDeadlineMs} ms <= ${t.retryPeriodMs} ms)`);
  if (!(t.leaseDurationMs > t.renewDeadlineMs)) throw new ConfigError(names.lease, `must be longer than the ${names.renew} (${t.leaseDurationMs} ms <= ${t.renewDeadlineMs} ms)`);
}

export function leaseClient(kc: KubeConfig): LeaseClient {
  const api = kc.makeApiClient(CoordinationV1Api);
  const conflict = (err: unknown) => {
    if (err instanceof ApiException && err.code === 409) throw new LeaseConflictError('lease changed under us', { cause: err });
    throw err;
  };
  return {
    async get(namespace, name) {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    create: (namespace, body) => api.createNamespacedLease({ namespace, body }).catch(conflict),
    replace: (namespace, name, body) => api.replaceNamespacedLease({ namespace, name, body }).catch(conflict),
  };
}

export interface LeaderElectionOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** Time and timers (the system clock by default; tests pass a manual one). */
  clock?: Clock;
}

export class LeaderElector {
  private readonly o: Required<LeaderElectionOptions>;
  private leading = false;
  private timer: TimerHandle | undefined;
  private stopped = true;
  /** The last record seen and when (by our clock) it last changed. */
  private observed: { holder: string; renewTime: string; transitions: number; rv: string | undefined } | undefined;
  private observedAt = 0;
  private lastRenew = 0;
  private ticking: Promise<void> = Promise.resolve();
  private attempt = 0;
  private deadlineTimer: TimerHandle | undefined;
  private readonly log: Logger;

  constructor(opts: LeaderElectionOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, clock: systemClock, ...opts };
    validateLeaseTimings(this.o, { lease: 'leaseDurationMs', renew: 'renewDeadlineMs', retry: 'retryPeriodMs' });
    this.log = opts.logger.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stop campaigning; a leader releases the lease (best effort). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    this.clearDeadline();
    if (this.leading) {
      this.setLeading(false);
      const release = async () => {
        const cur = await this.o.client.get(this.o.namespace, this.o.name);
        if (cur?.spec?.holderIdentity === this.o.identity) {
          await this.o.client.replace(this.o.namespace, this.o.name, { ...cur, spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
          this.log.info({}, 'lease released');
        }
      };
      let timer: TimerHandle | undefined;
      try {
        // Best effort and bounded: an API server that does not answer must not hold up shutdown.
        const late = new Promise<never>((_r, reject) => (timer = this.o.clock.setTimeout(() => reject(new BgpvsError('lease release did not answer in time')), this.o.renewDeadlineMs)));
        await Promise.race([release(), late]);
      } catch (err) {
        this.log.warn({ err }, 'could not release the lease');
      } finally {
        this.o.clock.clearTimeout(timer);
      }
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick().finally(() => this.schedule(this.o.retryPeriodMs));
    }, ms);
  }

  private clearDeadline(): void {
    if (this.deadlineTimer) this.o.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** Demote at lastRenew + renewDeadline unless a renew lands first: our own timer, not the request's. */
  private armDeadline(): void {
    this.clearDeadline();
    const ms = this.lastRenew + this.o.renewDeadlineMs - this.o.clock.now();
    this.deadlineTimer = this.o.clock.setTimeout(() => {
      this.deadlineTimer = undefined;
      if (!this.leading) return;
      this.log.warn({ sinceRenewMs: this.o.clock.now() - this.lastRenew, renewDeadlineMs: this.o.renewDeadlineMs }, 'could not renew the lease in time');
      this.setLeading(false);
    }, Math.max(0, ms));
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    if (v) {
      this.log.info({}, 'became leader');
      this.o.onStartedLeading();
    } else {
      this.log.info({}, 'stopped leading');
      this.o.onStoppedLeading();
    }
  }

  private async tick(): Promise<void> {
    const now = this.o.clock.now();
    const attempt = ++this.attempt;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = this.o.clock.setTimeout(() => r('timeout'), this.o.renewDeadlineMs)));
    try {
      const ok = await Promise.race([this.tryAcquireOrRenew(now, attempt), timedOut]);
      if (ok === 'timeout') {
        // Abandon it: a newer attempt bumps `attempt`, so this one's late answer changes nothing.
        this.attempt++;
        this.log.debug({ afterMs: this.o.renewDeadlineMs }, 'lease request did not answer; abandoned');
      } else if (ok) {
        // Renewed at `now` (when the attempt started): lead only if that is still within the deadline.
        this.lastRenew = now;
        if (this.o.clock.now() - now < this.o.renewDeadlineMs) {
          this.setLeading(true);
          this.armDeadline();
        }
      } else if (this.leading && this.observed?.holder !== this.o.identity) {
        this.setLeading(false);
      }
    } catch (err) {
      if (!(err instanceof AbandonedAttempt)) this.log.debug({ err }, 'lease acquire/renew failed');
    } finally {
      this.o.clock.clearTimeout(timer);
    }
    // The deadline timer demotes even when no attempt returns; this covers a clock that jumped.
    if (this.leading && this.o.clock.now() - this.lastRenew >= this.o.renewDeadlineMs) {
      this.log.warn({ sinceRenewMs: this.o.clock.now() - this.lastRenew }, 'could not renew the lease in time');
      this.setLeading(false);
    }
    if (!this.leading) this.clearDeadline();
  }

  private async tryAcquireOrRenew(now: number, attempt: number): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const durS = Math.ceil(this.o.leaseDurationMs / 1000);
    const t = new V1MicroTime(now);
    const current = () => {
      if (attempt !== this.attempt) throw new AbandonedAttempt('lease attempt abandoned');
    };
    const cur = await client.get(namespace, name);
    current();
    if (!cur) {
      await client.create(namespace, {
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durS, acquireTime: t, renewTime: t, leaseTransitions: 0 },
      });
      current();
      this.observed = { holder: identity, renewTime: t.toISOString(), transitions: 0, rv: undefined };
      this.observedAt = now;
      return true;
    }
    const spec = cur.spec ?? {};
    const rec = {
      holder: spec.holderIdentity ?? '',
      renewTime: spec.renewTime ? new Date(spec.renewTime).toISOString() : '',
      transitions: spec.leaseTransitions ?? 0,
      rv: cur.metadata?.resourceVersion,
    };
    if (!this.observed || this.observed.holder !== rec.holder || this.observed.renewTime !== rec.renewTime || this.observed.transitions !== rec.transitions) {
      this.observed = rec;
      this.observedAt = now;
    }
    const held = rec.holder !== '' && rec.holder !== identity;
    const durMs = (spec.leaseDurationSeconds ?? durS) * 1000;
    if (held && this.observedAt + durMs > now) return false;
    const mine = rec.holder === identity;
    const next: V1Lease = {
      ...cur,
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durS,
        acquireTime: mine && spec.acquireTime ? new V1MicroTime(new Date(spec.acquireTime).getTime()) : t,
        renewTime: t,
        leaseTransitions: mine ? rec.transitions : rec.transitions + 1,
      },
    };
    const res = await client.replace(namespace, name, next);
    current();
    if (!mine) this.log.info({ previous: rec.holder || undefined }, 'lease acquired');
    this.observed = { holder: identity, renewTime: t.toISOString(), transitions: next.spec?.leaseTransitions ?? 0, rv: res.metadata?.resourceVersion };
    this.observedAt = now;
    return true;
  }
}
