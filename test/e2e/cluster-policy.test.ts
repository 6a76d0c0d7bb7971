/**
 * End to end in the lab, scenario 1 of the "End to end" issue: a new LoadBalancer Service
 * with externalTrafficPolicy Cluster is reached by the client through the router, and its
 * flows spread over every node — node3 has no endpoint of its own and must forward to pods
 * on node1 and node2 (DNAT plus masquerade, so the answers come back through node3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../src/lab/run.js';
import { connect, createLbService, createPool, DEMO_POOL_CIDR, startAgents, waitForIp, waitNexthops, waitReachable } from '../../src/lab/agents.js';
import { killAgentsNow, nodeAddress } from '../../src/lab/agent-ops.js';
import { frrSkipReason } from '../../src/rig/frr-router.js';
import { silentLogger } from '../../src/observability/logger.js';

const skip = frrSkipReason();
const CONNECTIONS = 30;

test('e2e: Cluster policy — reached through the router, flows spread over all nodes, answered by pods on every node with endpoints', { skip, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bgpvs-e2e-cluster-'));
  const l = await startLab({ dir: join(dir, 'cluster'), logger: silentLogger() });
  t.after(async () => {
    await l.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await createPool(l, 'demo', DEMO_POOL_CIDR);
  const agents = await startAgents(l, { dir });
  t.after(() => killAgentsNow(agents));

  const svc = await createLbService(l, 'cluster', 'web', 'Cluster', 80);
  const pods = [...(await l.cluster.addPods('node1', 1, 80)), ...(await l.cluster.addPods('node2', 1, 80))];
  await l.cluster.setEndpoints(svc, pods);
  const vip = await waitForIp(l, 'cluster', 'web');
  const nodes = ['node1', 'node2', 'node3'];
  // Cluster: every node advertises, node3 too (it has no endpoint of its own).
  await waitNexthops(l, vip, nodes.map((n) => nodeAddress(l, n)));
  await waitReachable(l, vip, 80);

  // Forget earlier flows, then count which node each new one entered by (its conntrack entry).
  for (const n of nodes) await l.lab.exec(n, ['conntrack', '-D', '-p', 'tcp', '--orig-dst', vip], { allowFailure: true });
  const seen = await connect(l, vip, 80, CONNECTIONS);
  assert.equal(seen['no answer'], undefined, `every connection answered: ${JSON.stringify(seen)}`);
  const answeredBy = new Set(Object.keys(seen).map((k) => k.split(' ')[0]));
  assert.deepEqual([...answeredBy].sort(), pods.map((p) => p.name).sort(), `pods on both nodes answer: ${JSON.stringify(seen)}`);

  const entered: Record<string, number> = {};
  for (const n of nodes) {
    const r = await l.lab.exec(n, ['conntrack', '-L', '-p', 'tcp', '--orig-dst', vip, '--orig-port-dst', '80'], { allowFailure: true });
    entered[n] = r.stdout.split('\n').filter((x) => x.includes(`dst=${vip}`)).length;
  }
  t.diagnostic(`answers ${JSON.stringify(seen)}; flows entered by ${JSON.stringify(entered)}`);
  assert.equal(Object.values(entered).reduce((a, b) => a + b, 0), CONNECTIONS, `each connection tracked once, on the node it entered: ${JSON.stringify(entered)}`);
  for (const n of nodes) assert.ok(entered[n]! > 0, `${n} carried flows (the router spreads them over all three): ${JSON.stringify(entered)}`);
  // A flow to a pod on its entry node keeps the client's address; one to another node's pod
  // is masqueraded to the entry node's address (so the answer returns through it). So the
  // answers account for every node's flows exactly.
  for (const n of nodes) {
    const viaN = Object.entries(seen)
      .filter(([k]) => {
        const [pod, client] = k.split(' ');
        return client === nodeAddress(l, n) || (pod!.startsWith(n) && client === '192.168.100.10');
      })
      .reduce((a, [, c]) => a + c, 0);
    assert.equal(viaN, entered[n], `${n}: answers seen from the client (own pods) or from ${nodeAddress(l, n)} (masqueraded) = flows it carried: ${JSON.stringify(seen)} ${JSON.stringify(entered)}`);
  }
});
