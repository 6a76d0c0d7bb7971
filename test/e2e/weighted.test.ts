/**
 * End to end, weighted ECMP (issue 9), in the lab with real agents and FRR as the router:
 * - a Local Service with 3 ready endpoints on node1 and 1 on node2 → the router's next-hop
 *   weights are 3:1 and 400 client connections split 75/25 (±10 points);
 * - node2 scaled to 3 → weights 1:1, and the route was never withdrawn in between (every FIB
 *   state polled had both next hops; bgpd received no withdrawal of the VIP, only a new UPDATE);
 * - a pool with `bgp.weightedEcmp: false` → no link-bandwidth, equal weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLbService, createPool, labRouter, nodeAddress, startAgents, waitForIp, waitNexthops, waitReachable } from '../../lab/agents.js';
import {
  answersByNode,
  connectMany,
  measureWeightedSplit,
  routerWeights,
  waitWeights,
  watchRoute,
} from '../../lab/weighted.js';
import { frrSkipReason } from '../rig/frr-router.js';
import { sleep } from '../../src/util/wait.js';
import { labForTest } from './lab-fixture.js';

const skip = frrSkipReason();

test('e2e: weighted ECMP — 3:1 endpoints → 3:1 weights and a 75/25 split; scaled to 1:1 without a withdrawal; a pool with it off → plain ECMP', { skip, timeout: 900_000 }, async (t) => {
  const { l, dir } = await labForTest(t, 'weighted');
  // Both pools exist before the agents start. "weighted" leaves bgp.weightedEcmp at its default (on).
  await createPool(l, 'weighted', '10.200.0.0/24');
  await createPool(l, 'plain', '10.201.0.0/24', { weightedEcmp: false, autoAssign: false });
  const agents = await startAgents(l, { dir });
  t.after(() => agents.forEach((a) => a.proc.kill('SIGKILL')));
  const router = labRouter(l);
  const [n1, n2] = [nodeAddress(l, 'node1'), nodeAddress(l, 'node2')];

  // 1. 3 ready endpoints on node1, 1 on node2.
  const m = await measureWeightedSplit(l, { pool: 'weighted', podsA: 3, podsB: 1, connections: 400 });
  t.diagnostic(`3:1 — vip ${m.vip}, router weights ${JSON.stringify(m.weights)}, answers ${JSON.stringify(m.answers)} (${m.retried} retried), node1 ${m.sharePct.toFixed(1)} % (${m.connections} connections in ${m.connectMs} ms)`);
  for (const d of m.discarded) t.diagnostic(`measurement discarded: router sessions reset while it ran ${JSON.stringify(d.sessionResets)}, answers ${JSON.stringify(d.answers)}`);
  assert.ok(m.vip.startsWith('10.200.0.'), `${m.vip} from the weighted pool`);
  const bw = Object.fromEntries((await router.bgpPaths(`${m.vip}/32`)).map((p) => [p.nexthop, p.linkBandwidth?.bytesPerSecond]));
  assert.deepEqual(bw, { [n1]: 375_000, [n2]: 125_000 }, 'link-bandwidth ∝ ready local endpoints');
  assert.ok(Math.abs(m.weights.node1! / m.weights.node2! - 3) < 0.3, `router weights ${JSON.stringify(m.weights)} ≈ 3:1`);
  // Real TCP through the router, one at a time; a connection left unanswered (the lab's
  // fork-per-connection responders on a loaded machine) is tried again as a new connection,
  // as a client would, up to twice. Every connection is answered.
  assert.deepEqual(Object.keys(m.answers).sort(), ['node1', 'node2'], `answers: ${JSON.stringify(m.answers)} (${m.retried} retried)`);
  assert.equal(m.answers.node1! + m.answers.node2!, 400);
  assert.ok(Math.abs(m.sharePct - 75) <= 10, `node1 got ${m.sharePct.toFixed(1)} % of 400 connections (want 75 ± 10)`);

  // 2. node2 scales to 3: weights 1:1, the route replaced in place, never withdrawn.
  const watch = await watchRoute(l, m.vip);
  await sleep(300); // a few polls of the 3:1 state first
  const more = await l.cluster.addPods('node2', 2, 8080);
  await l.cluster.setEndpoints(m.service, [...m.pods.a, ...m.pods.b, ...more]);
  const even = await waitWeights(l, m.vip, '1:1', (w) => w[n1] !== undefined && w[n1] === w[n2]);
  await sleep(300);
  const seen = await watch.stop();
  t.diagnostic(`3:1 → 1:1 — router weights ${JSON.stringify(even)}; FIB states polled (${seen.polls} polls): ${JSON.stringify(seen.states)}; UPDATEs: ${JSON.stringify(seen.updates.map((u) => [u.peer, u.kind]))}`);
  for (const s of seen.states) assert.deepEqual(Object.keys(s.weights).sort(), [n1, n2], `every FIB state has both next hops: ${JSON.stringify(s)}`);
  const first = seen.states[0]!.weights;
  const last = seen.states[seen.states.length - 1]!.weights;
  assert.ok(first[n1]! > 2 * first[n2]!, `the watch saw the 3:1 state first: ${JSON.stringify(first)}`);
  assert.equal(last[n1], last[n2], `and ended at 1:1: ${JSON.stringify(last)}`);
  assert.deepEqual(seen.updates.filter((u) => u.kind === 'withdraw'), [], 'bgpd received no withdrawal of the VIP');
  assert.ok(seen.updates.some((u) => u.peer === n2 && u.kind === 'announce'), `node2 re-announced in place: ${JSON.stringify(seen.updates)}`);
  const bw2 = Object.fromEntries((await router.bgpPaths(`${m.vip}/32`)).map((p) => [p.nexthop, p.linkBandwidth?.bytesPerSecond]));
  assert.deepEqual(bw2, { [n1]: 375_000, [n2]: 375_000 });

  // 3. A pool with weightedEcmp: false: the same 3:1 endpoints, no link-bandwidth, equal weights.
  const plain = await createLbService(l, 'weighted', 'plain', 'Local', 8081, 'TCP', { pool: 'plain' });
  const pa = await l.cluster.addPods('node1', 3, 8081);
  const pb = await l.cluster.addPods('node2', 1, 8081);
  await l.cluster.setEndpoints(plain, [...pa, ...pb]);
  const pvip = await waitForIp(l, 'weighted', 'plain');
  assert.ok(pvip.startsWith('10.201.0.'), `${pvip} from the plain pool`);
  await waitNexthops(l, pvip, [n1, n2]);
  const pw = await routerWeights(l, pvip);
  const pbw = (await router.bgpPaths(`${pvip}/32`)).map((p) => [p.nexthop, p.linkBandwidth]);
  t.diagnostic(`plain pool — vip ${pvip}, router weights ${JSON.stringify(pw)}, link-bandwidth ${JSON.stringify(pbw)}`);
  assert.deepEqual(pbw.sort(), [[n1, undefined], [n2, undefined]], 'no link-bandwidth');
  assert.equal(pw[n1], pw[n2], `equal weights: ${JSON.stringify(pw)}`);
  await waitReachable(l, pvip, 8081);
  const answers = answersByNode((await connectMany(l, pvip, 8081, 40, { retries: 2 })).answers, (pod) => l.cluster.pods.get(pod)?.node);
  t.diagnostic(`plain pool — 40 connections: ${JSON.stringify(answers)}`);
  assert.ok((answers.node1 ?? 0) > 0 && (answers.node2 ?? 0) > 0, `both nodes serve: ${JSON.stringify(answers)}`);
});
