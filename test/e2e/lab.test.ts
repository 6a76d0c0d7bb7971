/**
 * End to end in the lab: real `bgpvs agent` processes in three node namespaces (nftables
 * data plane, gobgpd children, the bgpvs ServiceAccount), the real API server, FRR as the
 * upstream router, a client behind it. Scenarios of the "End to end" issue: 2 (Local: only
 * nodes with ready local endpoints advertise, the client's source IP is kept), 3 (scale a
 * node's endpoints to zero → it withdraws; back → it re-advertises), 5 (Service deleted →
 * withdrawn, data plane entries gone, IP free again) and 7 (UDP).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api } from '@kubernetes/client-node';
import { connect, createLbService, createPool, DEMO_POOL_CIDR, startAgents, waitForIp, waitNexthops, waitReachable } from '../../lab/agents.js';
import { frrSkipReason } from '../rig/frr-router.js';
import { waitFor } from '../../src/util/wait.js';
import { labForTest } from './lab-fixture.js';

const skip = frrSkipReason();

test('e2e: Local policy, scale to zero and back, UDP, delete — through the router, with real agents', { skip, timeout: 600_000 }, async (t) => {
  const { l, dir } = await labForTest(t, 'local');
  await createPool(l, 'demo', DEMO_POOL_CIDR);
  const agents = await startAgents(l, { dir });
  t.after(() => agents.forEach((a) => a.proc.kill('SIGKILL')));
  const core = l.cluster.kc.makeApiClient(CoreV1Api);

  // Scenario 2: endpoints on node1 (2) and node2 (1), none on node3.
  const svc = await createLbService(l, 'demo', 'web', 'Local', 80);
  const p1 = await l.cluster.addPods('node1', 2, 80);
  const p2 = await l.cluster.addPods('node2', 1, 80);
  await l.cluster.setEndpoints(svc, [...p1, ...p2]);
  const vip = await waitForIp(l, 'demo', 'web');
  assert.ok(vip.startsWith('10.200.0.'), `IP ${vip} from the pool`);
  await waitNexthops(l, vip, ['10.0.0.11', '10.0.0.12']);
  await waitReachable(l, vip, 80);
  const seen = await connect(l, vip, 80, 30);
  assert.equal(seen['no answer'], undefined, JSON.stringify(seen));
  const pods = new Set(Object.keys(seen).map((k) => k.split(' ')[0]));
  const clients = new Set(Object.keys(seen).map((k) => k.split(' ')[1]));
  assert.deepEqual([...clients], ['192.168.100.10'], 'backends see the client\'s own address');
  assert.ok([...pods].some((p) => p!.startsWith('node1')) && [...pods].some((p) => p!.startsWith('node2')), `both nodes serve: ${JSON.stringify(seen)}`);

  // Scenario 3: node2's endpoint goes away → node2 withdraws; back → it re-advertises.
  await l.cluster.setEndpoints(svc, p1);
  await waitNexthops(l, vip, ['10.0.0.11']);
  const onlyNode1 = await connect(l, vip, 80, 10);
  assert.ok(Object.keys(onlyNode1).every((k) => k.startsWith('node1')), JSON.stringify(onlyNode1));
  await l.cluster.setEndpoints(svc, [...p1, ...p2]);
  await waitNexthops(l, vip, ['10.0.0.11', '10.0.0.12']);

  // Scenario 7: a UDP Service.
  const dns = await createLbService(l, 'demo', 'dns', 'Local', 53, 'UDP');
  const p3 = await l.cluster.addPods('node3', 1, 53);
  await l.cluster.setEndpoints(dns, p3);
  const uvip = await waitForIp(l, 'demo', 'dns');
  await waitNexthops(l, uvip, ['10.0.0.13']);
  await waitReachable(l, uvip, 53, 'UDP');
  // Five queries, each retried up to 3 times as a DNS client would (a lone datagram can be
  // lost in the lab under load; the socat responder forks per datagram). Every query must
  // be answered, by the node3 pod, seeing the client's own address.
  const udp: Record<string, number> = {};
  for (let q = 0; q < 5; q++) {
    let answer = 'no answer';
    for (let attempt = 0; attempt < 3 && answer === 'no answer'; attempt++) answer = Object.keys(await connect(l, uvip, 53, 1, 'UDP'))[0]!;
    udp[answer] = (udp[answer] ?? 0) + 1;
  }
  assert.deepEqual(udp, { 'node3p1 192.168.100.10': 5 });

  // Scenario 5: delete → withdrawn everywhere, nft entries gone, the IP free again.
  await core.deleteNamespacedService({ name: 'web', namespace: 'demo' });
  await waitNexthops(l, vip, []);
  for (const n of ['node1', 'node2']) {
    await waitFor(`${n}: no nft entry for ${vip}`, async () => {
      const r = await l.lab.exec(n, ['nft', 'list', 'table', 'inet', 'bgpvs'], { allowFailure: true });
      return r.stdout.includes(vip) ? undefined : true;
    }, { timeoutMs: 20_000 });
  }
  const again = await createLbService(l, 'demo', 'web2', 'Local', 80);
  await l.cluster.setEndpoints(again, p1);
  assert.equal(await waitForIp(l, 'demo', 'web2'), vip, 'the freed IP is handed out again (lowest free)');
});
