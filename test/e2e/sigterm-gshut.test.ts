/**
 * Graceful shutdown end to end (issue 4): a real `bgpvs agent` process gets SIGTERM (what the
 * kubelet sends when a node is drained). The lab's FRR router must see the node's path with
 * GRACEFUL_SHUTDOWN (RFC 8326) for the drain time, and only then the withdrawal; the agent
 * exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLbService, createPool, DEMO_POOL_CIDR, labRouter, nodeAddress, startAgents, waitForIp, waitNexthops } from '../../lab/agents.js';
import { frrSkipReason } from '../rig/frr-router.js';
import { waitFor } from '../../src/util/wait.js';
import { labForTest } from './lab-fixture.js';

const skip = frrSkipReason();
const DRAIN_MS = 3000;

test('e2e: SIGTERM → the router sees GRACEFUL_SHUTDOWN for the drain time, then the withdrawal', { skip, timeout: 300_000 }, async (t) => {
  const { l, dir } = await labForTest(t, 'gshut');
  await createPool(l, 'demo', DEMO_POOL_CIDR);
  const [agent] = await startAgents(l, { dir, nodes: ['node1'], extraArgs: [`--bgp.graceful-shutdown=${DRAIN_MS / 1000}s`] });
  t.after(() => void agent!.proc.kill('SIGKILL'));
  const svc = await createLbService(l, 'demo', 'web', 'Local', 80);
  await l.cluster.setEndpoints(svc, await l.cluster.addPods('node1', 1, 80));
  const vip = await waitForIp(l, 'demo', 'web');
  await waitNexthops(l, vip, [nodeAddress(l, 'node1')]);

  const router = labRouter(l);
  const seen: { at: number; present: boolean; gshut: boolean }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const paths = await router.bgpPaths(`${vip}/32`).catch(() => undefined);
      if (paths) seen.push({ at: Date.now(), present: paths.length > 0, gshut: paths.some((p) => p.communities.includes('graceful-shutdown')) });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  agent!.proc.kill('SIGTERM');
  await waitFor('route withdrawn at the router', () => (seen.at(-1)?.present === false ? true : undefined), { timeoutMs: 30_000 });
  polling = false;
  await poller;
  const exit = await agent!.proc;
  assert.equal(exit.exitCode, 0, 'the agent exits 0 after SIGTERM');

  const firstGshut = seen.findIndex((s) => s.gshut);
  const firstGone = seen.findIndex((s) => !s.present);
  assert.ok(firstGshut >= 0, 'the router saw the graceful-shutdown community');
  assert.ok(firstGshut < firstGone, 'graceful-shutdown arrived before the withdrawal');
  assert.ok(seen.slice(0, firstGone).every((s) => s.present), 'the route stayed until the withdrawal');
  const drained = seen[firstGone]!.at - seen[firstGshut]!.at;
  t.diagnostic(`graceful-shutdown seen ${drained} ms before the withdrawal (drain ${DRAIN_MS} ms)`);
  assert.ok(drained >= DRAIN_MS - 500, `the drain lasted ${drained} ms; configured ${DRAIN_MS} ms`);
});
