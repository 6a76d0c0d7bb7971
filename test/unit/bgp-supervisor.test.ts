/**
 * GobgpdSupervisor with a fake child process and the gobgpd fake: restart, re-apply, peer state, stop.
 * Its backoff and stop timers run on a FakeClock that the tests advance: nothing sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResultPromise } from 'execa';
import { silentLogger } from '../../src/observability/logger.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { GobgpdSupervisor, type SessionGuardOptions } from '../../src/bgp/supervisor.js';
import type { spawnDaemon } from '../../src/exec/run.js';
import { FakeClock } from './fake-clock.js';
import { systemClock } from '../../src/util/clock.js';
import { FakeGobgp } from './bgp-fake-gobgp.js';
import { ad } from './advertisement-fixture.js';

/** Fake children: each "process" ends when killed or crashed; its death wipes the fake gobgpd. */
function fakeSpawner(fake: FakeGobgp) {
  const children: { argv: readonly string[]; pid: number; signals: string[]; exit: (signal?: string) => void }[] = [];
  let nextPid = 1000;
  const spawn = ((argv: readonly string[]) => {
    let exit!: (signal?: string) => void;
    const p = new Promise((resolve) => {
      exit = (signal?: string) => {
        fake.reset();
        fake.breakStreams();
        resolve({ exitCode: signal ? undefined : 2, signal });
      };
    }) as unknown as ResultPromise & { pid: number };
    const child = { argv, pid: nextPid++, signals: [] as string[], exit };
    Object.assign(p, { pid: child.pid, kill: (sig: string) => (child.signals.push(sig), exit(sig), true) });
    children.push(child);
    return p;
  }) as unknown as typeof spawnDaemon;
  return { spawn, children };
}

function setup(mode: 'child' | 'external' = 'child', backoff = { initialMs: 1, maxMs: 5 }) {
  const fake = new FakeGobgp();
  const speaker = new GobgpSpeaker({
    client: fake,
    logger: silentLogger(),
    config: { asn: 65011, nextHops: { IPv4: '10.0.0.11' }, peers: [{ address: '10.0.0.1', asn: 65000 }], exportCidrs: ['10.100.0.0/16'] },
  });
  const { spawn, children } = fakeSpawner(fake);
  const changes: string[] = [];
  const up = new Map<string, number>();
  const clock = new FakeClock();
  const sup = new GobgpdSupervisor({
    clock,
    speaker,
    client: fake,
    logger: silentLogger(),
    gobgpd: mode === 'child' ? { mode: 'child', binary: '/x/gobgpd', grpcPort: 50099 } : { mode: 'external', target: '127.0.0.1:50051' },
    spawn,
    backoff,
    metrics: {
      bgpSessionChanges: { inc: (l) => void changes.push(`${l.peer}=${l.state}`) },
      bgpSessionUp: { set: (l, v) => void up.set(l.peer, v), remove: (l) => void up.delete(l.peer) },
    },
  });
  return { fake, speaker, sup, children, changes, up, clock };
}

test('supervisor: spawns gobgpd with gRPC on 127.0.0.1 only and applies everything', async () => {
  const { fake, sup, children } = setup();
  await sup.start();
  assert.equal(children.length, 1);
  assert.deepEqual(children[0]!.argv.slice(0, 6), ['setpriv', '--pdeathsig', 'KILL', '/x/gobgpd', '--api-hosts', '127.0.0.1:50099']);
  assert.equal(fake.global?.asn, 65011);
  assert.equal(fake.peers.size, 1);
  await sup.kill();
});

test('supervisor: gobgpd dies → respawned with backoff and the full state re-applied', async () => {
  const { fake, speaker, sup, children, clock } = setup();
  await sup.start();
  await speaker.setAdvertisements([ad('10.100.0.1/32'), ad('10.100.0.2/32')]);
  assert.equal(fake.paths.size, 2);
  children[0]!.exit(); // crash
  await clock.advance(0);
  assert.equal(children.length, 1, 'respawned before the backoff');
  const took = await clock.advanceUntil(() => children.length === 2, { maxMs: 2000 });
  assert.equal(children.length, 2, 'not respawned');
  assert.equal(took, 1, 'respawned after the 1 ms backoff');
  await clock.advanceUntil(() => fake.paths.size === 2, { maxMs: 2000 });
  assert.equal(fake.paths.size, 2, 'not re-applied');
  await sup.settled();
  assert.equal(sup.restarts, 1);
  assert.equal(sup.pid, children[1]!.pid);
  assert.equal(fake.peers.size, 1);
  assert.equal(fake.assignments.size, 2);
  await sup.kill();
});

test('supervisor: external gobgpd restarted elsewhere → re-applied when its stream breaks', async () => {
  const { fake, speaker, sup, children, clock } = setup('external');
  await sup.start();
  assert.equal(children.length, 0, 'nothing spawned in external mode');
  await speaker.setAdvertisements([ad('10.100.0.1/32')]);
  fake.reset();
  fake.breakStreams();
  await clock.advanceUntil(() => fake.paths.size === 1 && fake.global !== undefined, { maxMs: 2000 });
  assert.ok(fake.paths.size === 1 && fake.global, 'not re-applied');
  await sup.kill();
});

test('supervisor: WatchEvent peer states are kept and counted', async () => {
  const { fake, sup, changes } = setup();
  await sup.start();
  const ev = (state: string) =>
    fake.emit({ type: 'TYPE_STATE', peer: { conf: { neighbor_address: '10.0.0.1', peer_asn: 65000 }, state: { neighbor_address: '10.0.0.1', peer_asn: 65000, session_state: state as never, admin_state: 'ADMIN_STATE_UP', bfd_state: { session_state: 'BFD_SESSION_STATE_UP', remote_session_state: 'BFD_SESSION_STATE_UP' } } } });
  ev('SESSION_STATE_ACTIVE');
  ev('SESSION_STATE_ESTABLISHED');
  ev('SESSION_STATE_ESTABLISHED');
  assert.deepEqual(sup.peers().map((p) => [p.address, p.state, p.bfd]), [['10.0.0.1', 'established', 'up']]);
  assert.deepEqual(changes, ['10.0.0.1=active', '10.0.0.1=established']);
  await sup.kill();
});

test('supervisor: a removed peer leaves status and the session gauge; peers not ours are not shown', async () => {
  const { fake, speaker, sup, up } = setup();
  await sup.start();
  const ev = (addr: string) =>
    fake.emit({ type: 'TYPE_STATE', peer: { conf: { neighbor_address: addr, peer_asn: 65000 }, state: { neighbor_address: addr, peer_asn: 65000, session_state: 'SESSION_STATE_ESTABLISHED', admin_state: 'ADMIN_STATE_UP' } } });
  ev('10.0.0.1');
  ev('10.9.9.9'); // a peer gobgpd holds that the speaker does not configure
  assert.deepEqual(sup.peers().map((p) => p.address), ['10.0.0.1']);
  assert.deepEqual([...up.entries()], [['10.0.0.1', 1]]);
  await speaker.reconfigure({ asn: 65011, nextHops: { IPv4: '10.0.0.11' }, peers: [{ address: '10.0.0.2', asn: 65000 }], exportCidrs: ['10.100.0.0/16'] });
  ev('10.0.0.2');
  assert.deepEqual(sup.peers().map((p) => p.address), ['10.0.0.2']);
  assert.deepEqual([...up.entries()], [['10.0.0.2', 1]]);
  await sup.kill();
});

test('supervisor: stop drains (65535:0, local-pref 0), then withdraws, stops BGP and the child; no respawn', async () => {
  const { fake, speaker, sup, children, clock } = setup();
  await sup.start();
  await speaker.setAdvertisements([ad('10.100.0.1/32')]);
  const order: string[] = [];
  const at: Record<string, number> = {};
  const addPath = fake.addPath.bind(fake);
  fake.addPath = async (p) => {
    const comms = p.pattrs.find((a) => a.communities)?.communities?.communities ?? [];
    const what = comms.includes(0xffff0000) ? 'drain' : 'add';
    order.push(what);
    at[what] ??= clock.now();
    return addPath(p);
  };
  const deletePath = fake.deletePath.bind(fake);
  fake.deletePath = async (p) => {
    order.push('withdraw');
    at.withdraw ??= clock.now();
    return deletePath(p);
  };
  await clock.settle(sup.stop({ drainMs: 20 }));
  assert.deepEqual(order, ['drain', 'withdraw']);
  assert.equal(at.withdraw! - at.drain!, 20, 'withdrawn before (or long after) the 20 ms drain');
  assert.ok(fake.calls.includes('StopBgp'));
  assert.deepEqual(children[0]!.signals, ['SIGTERM']);
  await clock.advance(30);
  assert.equal(children.length, 1, 'not respawned after stop');
});

test('supervisor: stop() does not hang behind a recovery that never succeeds', { timeout: 5000 }, async () => {
  const { fake, sup, children, clock } = setup();
  await sup.start();
  // gobgpd comes back without a working API: every re-apply fails, recovery retries forever.
  fake.waitReady = async () => {
    throw new Error('connect ECONNREFUSED');
  };
  children[0]!.exit();
  await clock.advanceUntil(() => children.length >= 2, { maxMs: 2000 });
  assert.ok(children.length >= 2, 'not respawned while recovering');
  const t0 = clock.now();
  await assert.rejects(clock.settle(sup.stop({ settleMs: 50 })), /still being recovered/);
  assert.equal(clock.now() - t0, 50, 'stop() gave up on the recovery at settleMs');
  const spawned = children.length;
  assert.ok(children.at(-1)!.signals.includes('SIGTERM'), 'the respawned child is stopped');
  await clock.advance(30);
  assert.equal(children.length, spawned, 'no respawn after stop');
});

test('supervisor: an external gobgpd that keeps failing the re-apply is retried with growing backoff', { timeout: 5000 }, async () => {
  const { fake, sup, clock } = setup('external', { initialMs: 5, maxMs: 200 });
  await sup.start();
  let attempts = 0;
  const times: number[] = [];
  const t0 = clock.now();
  fake.startBgp = async () => {
    attempts++;
    times.push(clock.now() - t0);
    throw new Error('StartBgp: rejected');
  };
  fake.reset();
  fake.breakStreams();
  await clock.advance(400);
  await sup.kill();
  // 5, 10, 20, 40, 80, 160 ms: about 6 tries in 400 ms; a backoff stuck at 5 ms makes ~60.
  assert.ok(attempts >= 3, `retried: ${attempts}`);
  assert.ok(attempts <= 12, `backed off: ${attempts} attempts in 400 ms`);
  assert.deepEqual(times, [5, 15, 35, 75, 155, 315], 'each wait doubles: 5, 10, 20, 40, 80, 160 ms');
});

test('supervisor: the backoff keeps growing across recoveries within 30 s, and starts over after 30 s of good service', async () => {
  const { fake, sup, clock } = setup('external', { initialMs: 100, maxMs: 10_000 });
  await sup.start();
  let failing = 0;
  const startBgp = fake.startBgp.bind(fake);
  let attemptAt: number[] = [];
  fake.startBgp = async (g) => {
    attemptAt.push(clock.now());
    if (failing > 0) {
      failing--;
      throw new Error('StartBgp: rejected');
    }
    return startBgp(g);
  };
  /** gobgpd restarts elsewhere; the re-apply fails `fails` times. Returns the waits before each attempt. */
  const outage = async (fails: number): Promise<number[]> => {
    failing = fails;
    attemptAt = [];
    const t0 = clock.now();
    fake.reset();
    fake.breakStreams();
    await clock.advanceUntil(() => attemptAt.length === fails + 1, { maxMs: 60_000 });
    await sup.settled();
    assert.ok(fake.global, 'not re-applied');
    return attemptAt.map((t, i) => t - (i === 0 ? t0 : attemptAt[i - 1]!));
  };
  assert.deepEqual(await outage(2), [100, 200, 400]);
  // Served only 29 s: a crash loop, the backoff keeps growing.
  await clock.advance(29_000);
  assert.deepEqual(await outage(1), [800, 1_600]);
  // Served 31 s: starts over.
  await clock.advance(31_000);
  assert.deepEqual(await outage(0), [100]);
  await sup.kill();
});

/**
 * A supervisor over a fake gobgpd with one BFD peer (10.0.0.1) and the session guard on; the
 * guard's passes are driven by the test (a long interval); `now()` is the guard's clock;
 * `repairs` collects the repair counter's labels as `label(l)` makes them.
 */
function guardedSupervisor(o: { now: () => number; guard?: Exclude<SessionGuardOptions, false>; label: (l: { peer: string; reason: string }) => string }) {
  const fake = new FakeGobgp();
  const speaker = new GobgpSpeaker({
    client: fake,
    logger: silentLogger(),
    config: { asn: 65011, nextHops: { IPv4: '10.0.0.11' }, peers: [{ address: '10.0.0.1', asn: 65000, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } }], exportCidrs: ['10.100.0.0/16'] },
  });
  const repairs: string[] = [];
  const sup = new GobgpdSupervisor({
    speaker,
    client: fake,
    logger: silentLogger(),
    gobgpd: { mode: 'external', target: '127.0.0.1:50051' },
    sessionGuard: { intervalMs: 3_600_000, ...o.guard },
    clock: { ...systemClock, now: o.now },
    metrics: { bgpSessionChanges: { inc: () => undefined }, bgpSessionUp: { set: () => undefined, remove: () => undefined }, bfdRepairs: { inc: (l) => void repairs.push(o.label(l)) } },
  });
  return { fake, sup, repairs };
}

test('supervisor: a reset loop gets the peer re-created (DeletePeer + AddPeer), with a Warning and a repair count; then backs off', async () => {
  let now = 1_000_000;
  // The repair on every drop is off: this is the reset-loop rule, with the back-off from the first repair.
  const { fake, sup, repairs } = guardedSupervisor({ now: () => now, guard: { repairOnDrop: false, quickRepairs: 1 }, label: (l) => `${l.peer}:${l.reason}` });
  await sup.start();
  const emit = (state: string) =>
    fake.emit({ type: 'TYPE_STATE', peer: { conf: { neighbor_address: '10.0.0.1', peer_asn: 65000 }, state: { neighbor_address: '10.0.0.1', peer_asn: 65000, session_state: state as never, admin_state: 'ADMIN_STATE_UP' } } });
  const cycle = () => {
    emit('SESSION_STATE_ESTABLISHED');
    emit('SESSION_STATE_IDLE');
    now += 2600;
  };
  cycle();
  cycle();
  fake.calls.length = 0;
  await sup.checkSessions();
  assert.deepEqual(repairs, [], 'two resets are not a loop yet');
  cycle();
  await sup.checkSessions();
  assert.deepEqual(repairs, ['10.0.0.1:resetLoop']);
  assert.deepEqual(fake.calls.filter((c) => /Peer$/.test(c) && c !== 'ListPeer'), ['DeletePeer', 'AddPeer']);
  assert.equal(fake.peers.get('10.0.0.1')?.bfd?.enabled, true, 'the peer comes back with its BFD config');
  // Still looping right after: no second repair inside the back-off.
  for (let i = 0; i < 3; i++) cycle();
  await sup.checkSessions();
  assert.equal(repairs.length, 1);
  now += 20_000;
  for (let i = 0; i < 3; i++) cycle();
  await sup.checkSessions();
  assert.equal(repairs.length, 2);
  await sup.kill();
});

test('supervisor: Established with BFD down past the grace → peer re-created (bfdNotUp)', async () => {
  let now = 0;
  const { fake, sup, repairs } = guardedSupervisor({ now: () => now, label: (l) => l.reason });
  await sup.start();
  const p = fake.peers.get('10.0.0.1')!;
  p.state = { neighbor_address: '10.0.0.1', peer_asn: 65000, session_state: 'SESSION_STATE_ESTABLISHED', admin_state: 'ADMIN_STATE_UP', bfd_state: { session_state: 'BFD_SESSION_STATE_DOWN', remote_session_state: 'BFD_SESSION_STATE_DOWN' } };
  fake.emit({ type: 'TYPE_STATE', peer: p });
  now = 14_999;
  await sup.checkSessions();
  assert.deepEqual(repairs, []);
  now = 15_000;
  await sup.checkSessions();
  assert.deepEqual(repairs, ['bfdNotUp']);
  await sup.kill();
});

test('supervisor: a BFD peer\'s session drops → the peer is re-created at once, on the drop event (sessionDown)', async () => {
  const { fake, sup, repairs } = guardedSupervisor({ now: () => 1_000_000, label: (l) => l.reason });
  await sup.start();
  const emit = (state: string) =>
    fake.emit({ type: 'TYPE_STATE', peer: { conf: { neighbor_address: '10.0.0.1', peer_asn: 65000 }, state: { neighbor_address: '10.0.0.1', peer_asn: 65000, session_state: state as never, admin_state: 'ADMIN_STATE_UP' } } });
  emit('SESSION_STATE_ESTABLISHED');
  fake.calls.length = 0;
  emit('SESSION_STATE_IDLE');
  // No guard pass is driven here: the drop event itself triggers one.
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(repairs, ['sessionDown']);
  assert.deepEqual(fake.calls.filter((c) => /Peer$/.test(c) && c !== 'ListPeer'), ['DeletePeer', 'AddPeer']);
  emit('SESSION_STATE_ACTIVE');
  await sup.checkSessions();
  assert.deepEqual(repairs, ['sessionDown'], 'once per drop');
  await sup.kill();
});
