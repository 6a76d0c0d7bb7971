/**
 * LeaderElector against a small stateful lease store that enforces resourceVersion
 * (optimistic concurrency) like the API server: exactly one of three candidates leads;
 * a crashed leader (stops renewing) is replaced only after the lease duration; a clean
 * stop releases the lease at once; a leader that cannot renew stops leading.
 * Time is a FakeClock shared by the candidates: the tests advance it, nothing sleeps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector, LeaseConflictError, validateLeaseTimings, type LeaseClient } from '../../src/k8s/leader-election.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from './fake-clock.js';

class FakeLeases implements LeaseClient {
  private lease: V1Lease | undefined;
  private rv = 0;
  down = false;
  private check(): void {
    if (this.down) throw new Error('connection refused');
  }
  async get(): Promise<V1Lease | undefined> {
    this.check();
    return this.lease && structuredClone(this.lease);
  }
  async create(_ns: string, l: V1Lease): Promise<V1Lease> {
    this.check();
    if (this.lease) throw new LeaseConflictError('exists');
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
  async replace(_ns: string, _n: string, l: V1Lease): Promise<V1Lease> {
    this.check();
    if (l.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new LeaseConflictError('stale');
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
  holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }
  renewTime(): string | undefined {
    const t = this.lease?.spec?.renewTime;
    return t === undefined ? undefined : new Date(t).toISOString();
  }
}

/** One candidate's connection to the store; while `hang` is set its requests never answer (a frozen API server). */
class HangingClient implements LeaseClient {
  hang = false;
  private readonly hung: (() => void)[] = [];
  constructor(private readonly store: LeaseClient) {}
  private async gate(): Promise<void> {
    if (this.hang) await new Promise<void>((r) => this.hung.push(r));
  }
  /** The server thaws: each hung request then runs against the store as it is now. */
  thaw(): void {
    this.hang = false;
    for (const r of this.hung.splice(0)) r();
  }
  async get(ns: string, n: string): Promise<V1Lease | undefined> {
    await this.gate();
    return this.store.get(ns, n);
  }
  async create(ns: string, l: V1Lease): Promise<V1Lease> {
    await this.gate();
    return this.store.create(ns, l);
  }
  async replace(ns: string, n: string, l: V1Lease): Promise<V1Lease> {
    await this.gate();
    return this.store.replace(ns, n, l);
  }
}

const LEASE_MS = 1_000;
const RENEW_DEADLINE_MS = 700;
const RETRY_MS = 50;

function candidate(clock: FakeClock, store: LeaseClient, identity: string, log: string[]) {
  const e = new LeaderElector({
    client: store,
    namespace: 'ns',
    name: 'l',
    identity,
    logger: silentLogger(),
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    onStartedLeading: () => log.push(`+${identity}`),
    onStoppedLeading: () => log.push(`-${identity}`),
    clock,
  });
  return e;
}

const leaders = (es: LeaderElector[]) => es.filter((e) => e.isLeader).length;

describe('LeaderElector', () => {
  it('one leader among three; a crashed leader is replaced after the lease duration, not before', async (t) => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const log: string[] = [];
    const es = ['a', 'b', 'c'].map((id) => candidate(clock, store, id, log));
    t.after(() => Promise.all(es.map((e) => e.stop())));
    for (const e of es) e.start();
    await clock.advance(300);
    assert.equal(leaders(es), 1);
    const first = es.find((e) => e.isLeader) as LeaderElector;
    const firstId = store.holder();
    // Crash: stop the timers without releasing (what SIGKILL does to a process).
    (first as unknown as { stopped: boolean }).stopped = true;
    const t0 = clock.now();
    let maxLeaders = 0;
    let lastRenewByFirst = 0;
    while (store.holder() === firstId && clock.now() - t0 < 3_000) {
      maxLeaders = Math.max(maxLeaders, leaders(es.filter((e) => e !== first)));
      lastRenewByFirst = new Date(store.renewTime() ?? 0).getTime();
      await clock.advance(10);
    }
    const took = clock.now() - t0;
    assert.notEqual(store.holder(), firstId);
    assert.ok(took >= 950, `taken over after ${took} ms, before the 1 s lease ran out`);
    assert.ok(took < 1_000 + 2_000, `took ${took} ms`);
    // On fake time the bounds can be exact: not before the lease ran out from the first's last
    // renew, and within one retry period of a successor seeing that renew plus one to act on it.
    const sinceRenew = clock.now() - lastRenewByFirst;
    assert.ok(sinceRenew >= LEASE_MS, `taken over ${sinceRenew} ms after the last renew, before the 1 s lease ran out`);
    assert.ok(sinceRenew <= LEASE_MS + 2 * RETRY_MS, `taken over ${sinceRenew} ms after the last renew: later than lease + retry`);
    assert.equal(maxLeaders, 0, 'a second leader while the first still held the lease');
    await clock.advance(100);
    assert.equal(leaders(es.filter((e) => e !== first)), 1);
  });

  it('a clean stop releases the lease: the successor does not wait the lease out', async (t) => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const log: string[] = [];
    const a = candidate(clock, store, 'a', log);
    const b = candidate(clock, store, 'b', log);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    a.start();
    await clock.advance(150);
    b.start();
    await clock.advance(150);
    assert.equal(store.holder(), 'a');
    const t0 = clock.now();
    await clock.settle(a.stop());
    await clock.advanceUntil(() => b.isLeader, { stepMs: 5, maxMs: 2_000 });
    // Well under the 1 s lease: the successor did not wait it out (it took over on its next retry).
    assert.ok(clock.now() - t0 < 800, `successor waited ${clock.now() - t0} ms`);
    assert.ok(clock.now() - t0 <= RETRY_MS, `successor waited ${clock.now() - t0} ms, more than one retry period`);
    assert.deepEqual(log, ['+a', '-a', '+b']);
  });

  it('a leader that cannot renew within renewDeadline stops leading, and leads again when the API returns', async (t) => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const log: string[] = [];
    const a = candidate(clock, store, 'a', log);
    t.after(() => a.stop());
    a.start();
    await clock.advance(150);
    assert.ok(a.isLeader);
    store.down = true;
    await clock.advance(850);
    assert.equal(a.isLeader, false);
    store.down = false;
    await clock.advance(200);
    assert.ok(a.isLeader);
    assert.deepEqual(log, ['+a', '-a', '+a']);
  });

  it('a renew that hangs: the leader demotes on its own timer before a successor can take the lease; late answers do not make it leader again', async (t) => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    // Only a's requests hang (its connection to a frozen API server); b reaches the store.
    const aConn = new HangingClient(store);
    const log: string[] = [];
    const a = candidate(clock, aConn, 'a', log);
    let aLeadingWhenBStarted: boolean | undefined;
    const b = new LeaderElector({
      client: store, namespace: 'ns', name: 'l', identity: 'b', logger: silentLogger(), leaseDurationMs: 1_000, renewDeadlineMs: 700, retryPeriodMs: 50,
      onStartedLeading: () => {
        aLeadingWhenBStarted ??= a.isLeader;
        log.push('+b');
      },
      onStoppedLeading: () => log.push('-b'),
      clock,
    });
    t.after(async () => {
      aConn.thaw();
      await Promise.all([a.stop(), b.stop()]);
    });
    a.start();
    await clock.advance(150);
    assert.ok(a.isLeader);
    b.start();
    aConn.hang = true;
    await clock.advanceUntil(() => b.isLeader, { stepMs: 5, maxMs: 5_000 });
    assert.ok(b.isLeader, 'b never took over');
    assert.equal(aLeadingWhenBStarted, false, 'a still acted as leader when b took the lease');
    // The hung requests now answer late: that must not make a leader again on a stale renew.
    aConn.thaw();
    await clock.advance(300);
    assert.equal(a.isLeader, false);
    assert.deepEqual(log, ['+a', '-a', '+b']);
  });

  it('a renew that hangs, alone: demoted, and leading again once the API answers', async (t) => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const conn = new HangingClient(store);
    const log: string[] = [];
    const a = candidate(clock, conn, 'a', log);
    t.after(() => {
      conn.thaw();
      return a.stop();
    });
    a.start();
    await clock.advance(150);
    assert.ok(a.isLeader);
    conn.hang = true;
    const lastRenew = new Date(store.renewTime() ?? 0).getTime();
    await clock.advanceUntil(() => !a.isLeader, { stepMs: 5, maxMs: 5_000 });
    assert.equal(a.isLeader, false, 'still leading with every renew hanging');
    // On its own deadline timer: renewDeadline after the last renew, not when a hung request gives up.
    assert.ok(clock.now() - lastRenew <= RENEW_DEADLINE_MS, `demoted ${clock.now() - lastRenew} ms after the last renew`);
    conn.thaw();
    await clock.advanceUntil(() => a.isLeader, { stepMs: 5, maxMs: 5_000 });
    assert.ok(a.isLeader, 'did not lead again once the API answered');
    assert.deepEqual(log, ['+a', '-a', '+a']);
  });

  it('stop() returns even when the release request hangs', async () => {
    const clock = new FakeClock();
    const conn = new HangingClient(new FakeLeases());
    const a = candidate(clock, conn, 'a', []);
    a.start();
    await clock.advance(150);
    assert.ok(a.isLeader);
    conn.hang = true;
    let returned = false;
    const stopping = a.stop().then(() => (returned = true));
    // Bounded by the renew deadline (700 ms): not a moment longer.
    await clock.advance(700);
    assert.equal(returned, true, 'stop() still waiting on the hung release after the renew deadline');
    await stopping;
    assert.equal(a.isLeader, false);
    conn.thaw();
  });

  it('timings: lease duration > renew deadline > retry period > 0, else a ConfigError naming the setting', () => {
    validateLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    const cases: [number, number, number, RegExp][] = [
      [10_000, 10_000, 2_000, /^lease duration: must be longer than the renew deadline/],
      [5_000, 10_000, 2_000, /^lease duration: /],
      [15_000, 2_000, 2_000, /^renew deadline: must be longer than the retry period/],
      [15_000, 10_000, 0, /^retry period: must be positive/],
    ];
    for (const [leaseDurationMs, renewDeadlineMs, retryPeriodMs, re] of cases) {
      assert.throws(() => validateLeaseTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }), (err: unknown) => err instanceof ConfigError && re.test(err.message), `${leaseDurationMs}/${renewDeadlineMs}/${retryPeriodMs}`);
    }
    assert.throws(
      () => new LeaderElector({ client: new FakeLeases(), namespace: 'n', name: 'l', identity: 'a', logger: silentLogger(), leaseDurationMs: 1_000, renewDeadlineMs: 2_000, onStartedLeading: () => undefined, onStoppedLeading: () => undefined }),
      ConfigError,
    );
  });
});
