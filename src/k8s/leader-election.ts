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
import { BgpvsError } from '../errors.js';

/** The three calls leader election makes (CoordinationV1Api in production). */
export interface LeaseClient {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

export class LeaseConflictError extends BgpvsError {}

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
  now?: () => number;
}

export class LeaderElector {
  private readonly o: Required<LeaderElectionOptions>;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** The last record seen and when (by our clock) it last changed. */
  private observed: { holder: string; renewTime: string; transitions: number; rv: string | undefined } | undefined;
  private observedAt = 0;
  private lastRenew = 0;
  private ticking: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(opts: LeaderElectionOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: () => Date.now(), ...opts };
    if (!(this.o.renewDeadlineMs < this.o.leaseDurationMs)) throw new BgpvsError('leader election: renewDeadline must be shorter than leaseDuration');
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    if (this.leading) {
      this.setLeading(false);
      try {
        const cur = await this.o.client.get(this.o.namespace, this.o.name);
        if (cur?.spec?.holderIdentity === this.o.identity) {
          await this.o.client.replace(this.o.namespace, this.o.name, { ...cur, spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
          this.log.info({}, 'lease released');
        }
      } catch (err) {
        this.log.warn({ err }, 'could not release the lease');
      }
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick().finally(() => this.schedule(this.o.retryPeriodMs));
    }, ms);
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
    const now = this.o.now();
    try {
      const ok = await this.tryAcquireOrRenew(now);
      if (ok) {
        this.lastRenew = now;
        this.setLeading(true);
      } else if (this.leading && (this.observed?.holder !== this.o.identity || now - this.lastRenew >= this.o.renewDeadlineMs)) {
        this.setLeading(false);
      }
    } catch (err) {
      this.log.debug({ err }, 'lease acquire/renew failed');
      if (this.leading && this.o.now() - this.lastRenew >= this.o.renewDeadlineMs) {
        this.log.warn({ err, sinceRenewMs: this.o.now() - this.lastRenew }, 'could not renew the lease in time');
        this.setLeading(false);
      }
    }
  }

  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const durS = Math.ceil(this.o.leaseDurationMs / 1000);
    const t = new V1MicroTime(now);
    const cur = await client.get(namespace, name);
    if (!cur) {
      await client.create(namespace, {
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durS, acquireTime: t, renewTime: t, leaseTransitions: 0 },
      });
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
    if (!mine) this.log.info({ previous: rec.holder || undefined }, 'lease acquired');
    this.observed = { holder: identity, renewTime: t.toISOString(), transitions: next.spec?.leaseTransitions ?? 0, rv: res.metadata?.resourceVersion };
    this.observedAt = now;
    return true;
  }
}
