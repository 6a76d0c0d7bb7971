/**
 * Weighted ECMP towards a router without link-bandwidth support: BIRD 2 (Debian's 2.0.12)
 * takes the paths with the extended community, keeps it as an opaque attribute, and installs
 * plain ECMP. Nothing breaks: the sessions stay up through an in-place change of the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BgpLab, ad, nodeIp, skipReason } from '../rig/bgp-lab.js';
import { weightedEcmpHook } from '../../src/bgp/link-bandwidth.js';
import { kernelRoutes } from '../rig/frr-router.js';
import { waitFor } from '../../src/util/wait.js';

const skip = skipReason('bird');
const VIP = '10.100.0.10/32';

/**
 * BIRD 2.0.12 prints an extended community it has no name for as `unknown 0xTTSS, ASN, VALUE`
 * (type+subtype, 2-byte global admin, 4-byte local admin as an integer): decode link-bandwidth
 * (0x4004; the value is an IEEE float32, bytes/s).
 */
function linkBandwidthOf(ext: string): { asn: number; bytesPerSecond: number } | undefined {
  const m = /^unknown 0x4004, (\d+), (\d+)$/i.exec(ext);
  if (!m) return undefined;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Number(m[2]));
  return { asn: Number(m[1]), bytesPerSecond: b.readFloatBE(0) };
}

test('bgp/bird: link-bandwidth paths (3:1) → BIRD keeps the community, installs both next hops with equal weight; an in-place change resets nothing', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpbirdlb', nodes: 2, router: 'bird', linkBandwidth: weightedEcmpHook(65011) });
  t.after(() => l.destroy());
  await l.waitEstablished();
  const bird = l.bird!;
  const sinceBefore = Object.fromEntries((await bird.bgpSummary()).map((p) => [p.name, p.since]));

  await l.nodes[0]!.speaker.setAdvertisements([ad(VIP, { weighted: true, localReadyEndpoints: 3 })]);
  await l.nodes[1]!.speaker.setAdvertisements([ad(VIP, { weighted: true, localReadyEndpoints: 1 })]);
  assert.deepEqual(await l.waitNexthops(VIP, 2), [nodeIp(0), nodeIp(1)]);

  const bandwidths = async () => {
    const routes = await bird.routes(VIP);
    return Object.fromEntries(routes.map((r) => [r.bgpNextHop ?? '', r.extCommunities.map(linkBandwidthOf).find(Boolean)?.bytesPerSecond]));
  };
  assert.deepEqual(await bandwidths(), { [nodeIp(0)]: 375_000, [nodeIp(1)]: 125_000 }, 'BIRD holds both paths with their link-bandwidth');
  const [route] = await kernelRoutes(l.lab, 'r', VIP);
  const weights = route!.nexthops.map((n) => n.weight ?? 1);
  t.diagnostic(`BIRD kernel route: ${JSON.stringify(route!.nexthops.map((n) => [n.gateway, n.weight ?? 1]))}`);
  assert.equal(new Set(weights).size, 1, `plain ECMP: equal weights ${JSON.stringify(weights)}`);

  // Node 1 goes to 3 endpoints: the path is replaced, BIRD takes the new value, no session resets.
  await l.nodes[1]!.speaker.setAdvertisements([ad(VIP, { weighted: true, localReadyEndpoints: 3 })]);
  await waitFor('BIRD sees the new bandwidth', async () => ((await bandwidths())[nodeIp(1)] === 375_000 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  assert.deepEqual(await l.fibNexthops(VIP), [nodeIp(0), nodeIp(1)]);
  const after = await bird.bgpSummary();
  for (const p of after) {
    assert.equal(p.bgp?.state, 'Established', `${p.name}: ${p.info}`);
    assert.equal(p.bgp?.lastError, undefined, `${p.name}: no error`);
    assert.equal(p.since, sinceBefore[p.name], `${p.name}: session not restarted`);
  }
  const log = join(bird.dir, 'bird.log');
  const errors = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((x) => /error|malformed|invalid/i.test(x)) : [];
  assert.deepEqual(errors, [], 'BIRD logged no error about the UPDATEs');
});
