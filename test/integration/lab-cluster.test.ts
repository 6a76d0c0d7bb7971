import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { NetLab } from '../rig/netns.js';
import { parseTopology } from '../../lab/topology.js';
import { buildTopology } from '../../lab/build.js';
import { LabCluster } from '../../lab/cluster.js';
import { silentLogger } from '../../src/observability/logger.js';

const root = process.getuid?.() === 0;

test('lab cluster: real API server, Ready Nodes with addresses, pods and their EndpointSlice', { skip: !root && 'needs root' }, async (t) => {
  const topo = parseTopology(readFileSync(new URL('../../lab/bgpvs.clab.yml', import.meta.url), 'utf8'));
  const lab = await NetLab.create('labcluster');
  t.after(() => lab.destroy());
  await buildTopology(lab, topo);
  const dir = mkdtempSync(join(tmpdir(), 'bgpvs-labcluster-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = await LabCluster.start(lab, topo, { dir, logger: silentLogger() });
  t.after(() => c.stop());
  const core = c.kc.makeApiClient(CoreV1Api);
  const nodes = await core.listNode();
  assert.deepEqual(
    nodes.items.map((n) => [n.metadata?.name, n.status?.conditions?.find((x) => x.type === 'Ready')?.status, n.status?.addresses?.[0]?.address]),
    [['node1', 'True', '10.0.0.11'], ['node2', 'True', '10.0.0.12'], ['node3', 'True', '10.0.0.13']],
  );
  await c.setNodeReady('node2', false);
  const n2 = await core.readNode({ name: 'node2' });
  assert.equal(n2.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'False');

  await core.createNamespace({ body: { metadata: { name: 'demo' } } });
  const svc = await core.createNamespacedService({
    namespace: 'demo',
    body: { metadata: { name: 'web', namespace: 'demo' }, spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  const pods = [...(await c.addPods('node1', 2, 8080)), ...(await c.addPods('node3', 1, 8080))];
  await c.setEndpoints(svc, pods);
  await c.setEndpoints(svc, pods, { terminating: new Set([pods[0]!.name]) });
  const slices = await c.kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: 'demo', labelSelector: 'kubernetes.io/service-name=web' });
  assert.equal(slices.items.length, 1);
  assert.deepEqual(
    slices.items[0]!.endpoints.map((e) => [e.addresses[0], e.nodeName, e.conditions?.ready]),
    [['10.244.1.10', 'node1', false], ['10.244.1.11', 'node1', true], ['10.244.3.10', 'node3', true]],
  );
  assert.deepEqual(slices.items[0]!.ports?.map((p) => ({ ...p })), [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  // A pod answers from inside the node network: node2 reaches a pod on node3 through host-gw routes.
  const r = await lab.exec('node2', ['socat', '-T', '2', 'STDIO', 'TCP:10.244.3.10:8080,connect-timeout=2'], { input: '' });
  assert.equal(r.stdout.trim(), 'node3p1 10.0.0.12');
});
