import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeReconciler, NotSyncedError } from '../../src/agent/node-reconciler.js';
import type { NodeObservation, NodePlan } from '../../src/agent/node-plan.js';
import type { DataPlaneContext } from '../../src/dataplane/types.js';
import type { Advertisement, VirtualServer } from '../../src/model/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ad } from './advertisement-fixture.js';

const vs = (vip: string, port: number): VirtualServer => ({
  vip, port, protocol: 'TCP', family: 'IPv4', scheduler: 'rr', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', realServers: [{ address: '10.244.1.10', port: 8080, weight: 1 }], services: ['demo/web'],
});
const dpContext: DataPlaneContext = { poolCidrs: ['192.0.2.0/24'], nodeAddresses: new Map([['n1', ['10.0.0.11']]]) };
const desired: NodePlan = {
  virtualServers: [vs('192.0.2.10', 80), vs('192.0.2.10', 443), vs('192.0.2.11', 80)],
  advertisements: [ad('192.0.2.10/32'), ad('192.0.2.11/32')],
  decisions: [{ service: 'demo/web', ip: '192.0.2.10', advertised: true }],
  pools: [],
  dataplane: dpContext,
  speaker: { config: { asn: 65001, listenPort: -1, nextHops: { IPv4: '10.0.0.11' }, peers: [], exportCidrs: [] }, key: 'k' },
  problems: [],
};
const obs: NodeObservation = { snapshot: { services: [], endpointSlices: [], nodes: [], namespaces: [], pools: [], peers: [] }, secrets: new Map() };

test('node reconciler: before the first full list nothing is touched, and the pass reports why', async () => {
  const touched: string[] = [];
  const r = new NodeReconciler({
    observe: async () => undefined,
    plan: () => desired,
    dataplane: { sync: async () => touched.push('dp') },
    advertiser: { configure: async () => touched.push('cfg'), advertise: async () => touched.push('bgp') },
    logger: silentLogger(),
  });
  const res = await r.pass('start');
  assert.deepEqual(touched, []);
  assert.ok(res.failures[0] instanceof NotSyncedError);
});

test('node reconciler: data plane before BGP; a failing step does not stop the others', async () => {
  const order: string[] = [];
  let got: { ctx?: DataPlaneContext; ads?: readonly Advertisement[] } = {};
  let dpFails = true;
  let want = desired;
  const r = new NodeReconciler({
    observe: async () => obs,
    plan: () => want,
    dataplane: { sync: async (_vs, ctx) => { order.push('dp'); got = { ...got, ctx }; if (dpFails) throw new Error('nft -f failed'); } },
    advertiser: { configure: async () => { order.push('cfg'); }, advertise: async (a) => { order.push('bgp'); got = { ...got, ads: a }; } },
    logger: silentLogger(),
  });
  const res = await r.pass('event');
  assert.deepEqual(order, ['dp', 'cfg', 'bgp'], 'the speaker is configured beside the data plane; paths after it, and still (to withdraw) when the data plane failed');
  assert.equal(got.ctx, dpContext, 'the data plane is told the pools and node addresses of the same plan');
  assert.deepEqual(got.ads, [], 'nothing new is announced for VIPs the node could not program');
  assert.deepEqual(res.failures.map((e) => [e.message, (e as Error & { step?: string }).step]), [['nft -f failed', 'dataplane']]);

  dpFails = false;
  assert.deepEqual((await r.pass('retry')).failures, []);
  assert.deepEqual((got.ads as readonly Advertisement[] | undefined)?.map((a) => a.prefix), ['192.0.2.10/32', '192.0.2.11/32']);

  // The data plane fails again while one VIP goes and another comes: the gone one is
  // withdrawn, the new one waits, the one still served stays announced.
  dpFails = true;
  want = { ...desired, advertisements: [ad('192.0.2.10/32'), ad('192.0.2.12/32')] };
  await r.pass('event');
  assert.deepEqual((got.ads as readonly Advertisement[] | undefined)?.map((a) => a.prefix), ['192.0.2.10/32']);
});
