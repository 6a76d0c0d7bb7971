import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeReconciler, NotSyncedError, vipsOf } from '../../src/agent/node-reconciler.js';
import type { ClusterSnapshot } from '../../src/desired/builder.js';
import type { Advertisement, NodeDesiredState, VirtualServer } from '../../src/model/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ad } from './advertisement-fixture.js';

const vs = (vip: string, port: number): VirtualServer => ({
  vip, port, protocol: 'TCP', family: 'IPv4', scheduler: 'rr', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', realServers: [{ address: '10.244.1.10', port: 8080, weight: 1 }], services: ['demo/web'],
});
const desired: NodeDesiredState = {
  virtualServers: [vs('192.0.2.10', 80), vs('192.0.2.10', 443), vs('192.0.2.11', 80)],
  advertisements: [ad('192.0.2.10/32'), ad('192.0.2.11/32')],
  decisions: [{ service: 'demo/web', ip: '192.0.2.10', advertised: true }],
};
const snap: ClusterSnapshot = { services: [], endpointSlices: [], nodes: [] };

test('node reconciler: before the first full list nothing is touched, and the pass reports why', async () => {
  const touched: string[] = [];
  const r = new NodeReconciler({
    source: { snapshot: () => undefined },
    model: { build: () => desired },
    dataplane: { sync: async () => touched.push('dp') },
    advertiser: { setAdvertisements: async () => touched.push('bgp') },
    logger: silentLogger(),
  });
  const res = await r.pass('start');
  assert.deepEqual(touched, []);
  assert.ok(res.failures[0] instanceof NotSyncedError);
});

test('node reconciler: VIPs and data plane before BGP; a failing step does not stop the others', async () => {
  const order: string[] = [];
  let got: { vips?: readonly string[]; ads?: readonly Advertisement[] } = {};
  let dpFails = true;
  let want = desired;
  const r = new NodeReconciler({
    source: { snapshot: () => snap },
    model: { build: () => want },
    vips: { sync: async (v) => { order.push('vips'); got = { ...got, vips: v }; } },
    dataplane: { sync: async () => { order.push('dp'); if (dpFails) throw new Error('nft -f failed'); } },
    advertiser: { setAdvertisements: async (a) => { order.push('bgp'); got = { ...got, ads: a }; } },
    logger: silentLogger(),
  });
  const res = await r.pass('event');
  assert.deepEqual(order, ['vips', 'dp', 'bgp'], 'BGP still runs (to withdraw) when the data plane failed');
  assert.deepEqual(got.vips, ['192.0.2.10', '192.0.2.11']);
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

test('node reconciler: vipsOf dedupes and sorts', () => {
  assert.deepEqual(vipsOf([vs('192.0.2.11', 80), vs('192.0.2.10', 80), vs('192.0.2.10', 443)]), ['192.0.2.10', '192.0.2.11']);
});
