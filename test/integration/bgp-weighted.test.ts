/**
 * Weighted ECMP hook: paths carry the link-bandwidth extended community (bytes/s scaled by
 * local ready endpoints); FRR (`bgp bestpath bandwidth` on by default) weights the kernel
 * next hops accordingly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ad, nodeIp, skipReason } from '../rig/bgp-lab.js';
import { kernelRoutes } from '../rig/frr-router.js';
import { waitFor } from '../../src/util/wait.js';

const skip = skipReason('frr');
const VIP = '10.100.0.10/32';

test('bgp/frr: link-bandwidth 3:1 → kernel next-hop weights 3:1', { skip }, async (t) => {
  const l = await BgpLab.create({
    tag: 'bgplb',
    nodes: 2,
    router: 'frr',
    linkBandwidth: (a) => (a.weighted ? { asn: 65000, bytesPerSecond: a.localReadyEndpoints * 125_000 } : undefined),
  });
  t.after(() => l.destroy());
  await l.waitEstablished();
  await l.nodes[0]!.speaker.setAdvertisements([ad(VIP, { weighted: true, localReadyEndpoints: 3 })]);
  await l.nodes[1]!.speaker.setAdvertisements([ad(VIP, { weighted: true, localReadyEndpoints: 1 })]);
  const route = await waitFor('weighted ECMP route', async () => {
    const [r] = await kernelRoutes(l.lab, 'r', VIP);
    return r && r.nexthops.length === 2 ? r : undefined;
  });
  const w = Object.fromEntries(route.nexthops.map((n) => [n.gateway, n.weight]));
  const ratio = w[nodeIp(0)]! / w[nodeIp(1)]!;
  t.diagnostic(`kernel weights: ${JSON.stringify(w)}`);
  assert.ok(Math.abs(ratio - 3) < 0.2, `weights ${JSON.stringify(w)} should be 3:1`);
  const paths = await l.frr!.bgpPaths(VIP);
  assert.deepEqual(paths.map((p) => p.linkBandwidth?.mbps).sort(), [1, 3]);
});
