/**
 * IPv6 VIPs: MP_REACH_NLRI with the node's IPv6 next hop over the IPv4 session (MP-BGP);
 * FRR installs one IPv6 route with a next hop per node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ad, nodeIp6, skipReason } from '../rig/bgp-lab.js';

const skip = skipReason('frr');
const VIP6 = 'fd00:100::10/128';

test('bgp/frr: two nodes announce an IPv6 VIP → one IPv6 FIB route with both next hops', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpv6', nodes: 2, router: 'frr', ipv6: true });
  t.after(() => l.destroy());
  await l.waitEstablished();
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP6), ad('10.100.0.10/32')]);
  assert.deepEqual(await l.waitNexthops(VIP6, 2), [nodeIp6(0), nodeIp6(1)]);
  await l.waitNexthops('10.100.0.10/32', 2);
  // gobgpd lists the IPv6 path back exactly as wanted: a second pass changes nothing.
  const again = await l.nodes[0]!.speaker.setAdvertisements([ad(VIP6), ad('10.100.0.10/32')]);
  assert.deepEqual([again.added, again.replaced, again.deleted], [0, 0, 0]);
  // Out-of-pool IPv6 stays home.
  await l.nodes[0]!.speaker.setAdvertisements([ad(VIP6), ad('fd00:200::1/128'), ad('fd00:100::11/128')]);
  await l.waitNexthops('fd00:100::11/128', 1);
  assert.deepEqual(await l.fibNexthops('fd00:200::1/128'), []);
});
