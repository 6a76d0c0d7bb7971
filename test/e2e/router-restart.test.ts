/**
 * Issue 19, items 4 and 5, end to end: the lab's router restarts under 100 long-lived flows
 * through an externalTrafficPolicy Cluster Service on 3 nodes (real agents, gobgpd with BFD
 * 100 ms x 3 and graceful restart towards the router). One lab per router kind, the
 * scenarios in sequence in it:
 *  - FRR: bgpd alone (SIGKILL), the whole router (zebra + bfdd + bgpd, SIGKILL), bfdd alone;
 *  - BIRD: the bird process (SIGTERM, started again at once).
 * Each asserts, after the restart: every node's session Established at the router with BFD
 * up and all three next hops in the router's FIB (within 60 s; the time is printed, and bench:lab holds the target), no
 * session reset at the router in the 60 s after that (FRR: connectionsDropped; BIRD: its
 * protocols polled through birdc), and no flow broken: every flow echoes a new line.
 * The windows do not overlap: each scenario starts after the previous one's 60 s.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { anyLabRouter, createLbService, createPool, DEMO_POOL_CIDR, nodeAddress, routerNexthops, startAgents, waitForIp, waitNexthops, waitReachable, type LabAgent } from '../../lab/agents.js';
import { killAgentsNow, timeRouterRestart, waitRouterSessions, watchRouterResets } from '../../lab/agent-ops.js';
import { HeldFlows } from '../../lab/flows.js';
import { startHoldResponder } from '../../lab/pods.js';
import type { LabRouterKind, RunningLab } from '../../lab/run.js';
import { frrSkipReason, FrrRouter } from '../rig/frr-router.js';
import { birdSkipReason, BirdRouter } from '../rig/bird-router.js';
import { sleep } from '../../src/util/wait.js';
import { labForTest } from './lab-fixture.js';

const HOLD_PORT = 7000;
const FLOWS = 100;
const NODES = ['node1', 'node2', 'node3'];
const STABLE_MS = 60_000;

interface Held {
  l: RunningLab;
  vip: string;
  flows: HeldFlows;
  all: string[];
}

async function heldLab(t: TestContext, router: LabRouterKind): Promise<Held> {
  const { l, dir } = await labForTest(t, `rr-${router}`, { router });
  await createPool(l, 'demo', DEMO_POOL_CIDR);
  const agents = new Map<string, LabAgent>((await startAgents(l, { dir })).map((a) => [a.node, a]));
  t.after(() => killAgentsNow(agents.values()));
  await waitRouterSessions(l, NODES);
  const svc = await createLbService(l, 'rr', 'echo', 'Cluster', HOLD_PORT);
  const pods = [];
  for (const n of NODES) pods.push(...(await l.cluster.addPods(n, 1, 80)));
  for (const p of pods) startHoldResponder(l.lab, p, HOLD_PORT, join(dir, 'hold.log'));
  await l.cluster.setEndpoints(svc, pods);
  const vip = await waitForIp(l, 'rr', 'echo');
  const all = NODES.map((n) => nodeAddress(l, n));
  await waitNexthops(l, vip, all);
  await waitReachable(l, vip, HOLD_PORT);
  const flows = await HeldFlows.open(l, { vip, port: HOLD_PORT, count: FLOWS, dir, name: `rr-${router}` });
  t.after(() => flows.stop());
  const opened = await flows.check(15_000);
  assert.equal(opened.open, FLOWS, `all flows open: ${JSON.stringify(opened.byBackend)}`);
  return { l, vip, flows, all };
}

/** Restart something on the router; time it back, watch 60 s for resets, check every flow. */
async function scenario(st: TestContext, h: Held, restart: () => Promise<void>): Promise<void> {
  const { l, vip, flows, all } = h;
  const r = anyLabRouter(l);
  await waitRouterSessions(l, NODES);
  await waitNexthops(l, vip, all);
  const before = (await flows.status()).flows.map((f) => f.echoed);
  const { backMs: back, outageMs: outage } = await timeRouterRestart(l, vip, all, restart);
  assert.ok(back !== undefined, 'sessions and next hops back within 60 s');
  await waitRouterSessions(l, NODES, 30_000);
  const resets = await watchRouterResets(r);
  await sleep(STABLE_MS);
  const dropped = await resets.stop();
  const nh = await routerNexthops(l, vip);
  const after = await flows.check(30_000);
  const stuck = after.flows.filter((f) => f.state !== 'open' || f.echoed < f.sent);
  if (stuck.length) st.diagnostic(`flows not answering: ${JSON.stringify(stuck)}`);
  st.diagnostic(
    `restart → all ${all.length} sessions Established at the router and ${all.length} next hops in its FIB: ${back} ms; FIB without the VIP ${outage} ms; ` +
      `resets in the ${STABLE_MS / 1000} s after: ${JSON.stringify(dropped)}; flows open ${after.open}, broken ${after.broken}, pending ${after.pending}`,
  );
  assert.deepEqual(Object.values(dropped).filter((n) => n > 0), [], `no session reset in the ${STABLE_MS} ms after: ${JSON.stringify(dropped)}`);
  assert.deepEqual(nh, [...all].sort(), 'all next hops still there');
  assert.equal(after.broken, 0, `no flow broken: ${JSON.stringify(after.flows.filter((f) => f.state === 'broken').slice(0, 3))}`);
  assert.equal(after.pending, 0, 'every flow echoed its last line');
  after.flows.forEach((f, i) => assert.ok(f.echoed > before[i]!, `flow ${i} exchanged data across the restart`));
}

test('e2e: FRR restarts (bgpd alone, the whole router, bfdd alone) under 100 held flows → sessions back and stable, next hops back, no flow broken', { skip: frrSkipReason(), timeout: 900_000 }, async (t) => {
  const h = await heldLab(t, 'frr');
  const frr = anyLabRouter(h.l) as FrrRouter;
  await t.test('bgpd alone (SIGKILL, started again at once)', (st) => scenario(st, h, () => frr.restartDaemon('bgpd')));
  await t.test('the whole router: zebra, bfdd and bgpd (SIGKILL, started again at once)', (st) => scenario(st, h, () => frr.restartAll()));
  await t.test('bfdd alone (SIGKILL, started again at once)', (st) => scenario(st, h, () => frr.restartDaemon('bfdd')));
});

// TODO (known failure, reported as todo, not passed): in the fresh-clone CI runs at 64b8c46
// and bcf76c4 a node's session was reset 2 and 22 times in the 60 s after BIRD came back
// (back in ~1 s, FIB without the VIP ~0.9 s, 0 of 100 flows broken); two earlier runs saw 0. Suspect: the
// session guard's repair on drop meeting BIRD's new BFD session per BGP connection. Not fixed.
test('e2e: BIRD restarts under 100 held flows → sessions back and stable, next hops back, no flow broken', { skip: birdSkipReason() ?? frrSkipReason(), timeout: 600_000, todo: 'a node session kept resetting after the BIRD restart in two runs of four; cause not found' }, async (t) => {
  const h = await heldLab(t, 'bird');
  const bird = anyLabRouter(h.l) as BirdRouter;
  await t.test('the bird process (SIGTERM, started again at once)', { todo: 'see above' }, (st) => scenario(st, h, () => bird.restart()));
});
