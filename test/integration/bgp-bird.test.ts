/** The ECMP test against BIRD 2 as the upstream router (`merge paths on` in its kernel protocol). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ad, nodeIp, skipReason } from '../rig/bgp-lab.js';

const skip = skipReason('bird');
const VIP = '10.100.0.10/32';

test('bgp/bird: three nodes announce one VIP → one FIB route with three next hops; one withdraws → two', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpbird', nodes: 3, router: 'bird' });
  t.after(() => l.destroy());
  await l.waitEstablished();
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP)]);
  assert.deepEqual(await l.waitNexthops(VIP, 3), [nodeIp(0), nodeIp(1), nodeIp(2)]);
  await l.nodes[1]!.speaker.setAdvertisements([]);
  assert.deepEqual(await l.waitNexthops(VIP, 2), [nodeIp(0), nodeIp(2)]);
  // A VIP outside the pools stays out of BIRD too.
  await l.nodes[0]!.speaker.setAdvertisements([ad(VIP), ad('10.200.0.1/32'), ad('10.100.0.11/32')]);
  await l.waitNexthops('10.100.0.11/32', 1);
  assert.doesNotMatch(await l.birdc('show route'), /10\.200\.0\.1/);
});
