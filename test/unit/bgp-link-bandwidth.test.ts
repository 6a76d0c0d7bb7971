/**
 * Weighted ECMP, pure parts: endpoints → link-bandwidth, the pool default, the per-VIP sum,
 * and that a changed endpoint count is a replace of the path (never a withdraw).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Advertisement } from '../../src/model/types.js';
import { AS_TRANS, BYTES_PER_ENDPOINT, linkBandwidthFor, weightedEcmpHook } from '../../src/bgp/link-bandwidth.js';
import { fromGobgpPath, pathKey, toGobgpPath, wantedPaths } from '../../src/bgp/paths.js';
import { diffPaths } from '../../src/bgp/diff.js';
import { parsePool } from '../../src/ipam/pools.js';
import { buildNodeDesiredState } from '../../src/desired/builder.js';
import { modelConfig } from '../../src/desired/config.js';
import { node, slice, svc } from './desired-fixtures.js';

const ad = (extra: Partial<Advertisement> = {}): Advertisement => ({
  prefix: '192.0.2.10/32',
  family: 'IPv4',
  services: ['default/web'],
  communities: [],
  largeCommunities: [],
  localReadyEndpoints: 3,
  weighted: true,
  ...extra,
});
const opts = { nextHops: { IPv4: '10.0.0.11' }, marker: '65001:4242:1', linkBandwidth: weightedEcmpHook(65001) };

test('link-bandwidth: proportional to ready local endpoints, only on weighted advertisements', () => {
  const cases: { name: string; asn: number; ad: Partial<Advertisement>; want: ReturnType<typeof linkBandwidthFor> }[] = [
    { name: '3 endpoints', asn: 65001, ad: { localReadyEndpoints: 3 }, want: { asn: 65001, bytesPerSecond: 375_000 } },
    { name: '1 endpoint', asn: 65002, ad: { localReadyEndpoints: 1 }, want: { asn: 65002, bytesPerSecond: BYTES_PER_ENDPOINT } },
    { name: 'unweighted (pool off, or Cluster policy)', asn: 65001, ad: { weighted: false }, want: undefined },
    { name: 'no local endpoint', asn: 65001, ad: { localReadyEndpoints: 0 }, want: undefined },
    { name: '4-byte ASN → AS_TRANS', asn: 4_200_000_001, ad: { localReadyEndpoints: 2 }, want: { asn: AS_TRANS, bytesPerSecond: 250_000 } },
  ];
  for (const c of cases) assert.deepEqual(linkBandwidthFor(c.asn, ad(c.ad)), c.want, c.name);
  const ratio = linkBandwidthFor(65001, ad({ localReadyEndpoints: 3 }))!.bytesPerSecond / linkBandwidthFor(65002, ad({ localReadyEndpoints: 1 }))!.bytesPerSecond;
  assert.equal(ratio, 3);
});

test('link-bandwidth: the path read back from gobgpd (float32 on the wire) equals the wanted one, for any count', () => {
  for (const n of [1, 2, 3, 7, 1000, 1073, 1074, 4097, 123_457]) {
    const [want] = wantedPaths([ad({ localReadyEndpoints: n })], opts).paths;
    // What ListPath returns: the bandwidth as a float32.
    const wire = toGobgpPath(want!);
    const ext = wire.pattrs.find((a) => a.extended_communities)!.extended_communities!.communities[0]!.link_bandwidth!;
    const listed = { ...wire, pattrs: wire.pattrs.map((a) => (a.extended_communities ? { extended_communities: { communities: [{ link_bandwidth: { ...ext, bandwidth: Math.fround(ext.bandwidth) } }] } } : a)) };
    assert.equal(pathKey(fromGobgpPath(listed)!), pathKey(want!), `n=${n}`);
  }
});

test('link-bandwidth: an endpoint-count change replaces the path in place; weighted off carries none', () => {
  const before = wantedPaths([ad({ localReadyEndpoints: 1 })], opts).paths;
  const after = wantedPaths([ad({ localReadyEndpoints: 3 })], opts).paths;
  assert.equal(before[0]!.linkBandwidth?.bytesPerSecond, 125_000);
  assert.equal(after[0]!.linkBandwidth?.bytesPerSecond, 375_000);
  const d = diffPaths(after, before);
  assert.deepEqual([d.add.length, d.replace.map((p) => p.prefix), d.delete.length], [0, ['192.0.2.10/32'], 0]);
  assert.deepEqual(diffPaths(after, after), { add: [], replace: [], delete: [] });
  assert.equal(wantedPaths([ad({ weighted: false })], opts).paths[0]!.linkBandwidth, undefined);
  // IPv6 VIPs carry it too (MP_REACH path, same extended community).
  const v6 = wantedPaths([ad({ prefix: '2001:db8::10/128', family: 'IPv6', localReadyEndpoints: 2 })], { ...opts, nextHops: { IPv6: '2001:db8::11' } }).paths[0]!;
  assert.deepEqual(fromGobgpPath(toGobgpPath(v6))?.linkBandwidth, { asn: 65001, bytesPerSecond: 250_000 });
});

test('pools: weightedEcmp is on unless the pool turns it off', () => {
  const weighted = (bgp: Record<string, unknown> | undefined) => {
    const r = parsePool({ metadata: { name: 'p' }, spec: { cidrs: ['10.200.0.0/24'], ...(bgp ? { bgp } : {}) } });
    assert.ok(r.ok);
    return r.pool.bgp.weightedEcmp;
  };
  assert.equal(weighted(undefined), true);
  assert.equal(weighted({ communities: ['64512:1'] }), true);
  assert.equal(weighted({ weightedEcmp: false }), false);
});

test('model: a shared VIP weighs the ready local endpoints summed over its Services; Local policy only', () => {
  const cfg = modelConfig({ pools: [{ cidrs: ['192.0.2.0/24'], communities: [], largeCommunities: [], weightedEcmp: true }] });
  const https = [{ name: 'https', port: 443 }];
  const services = [
    svc('a', { etp: 'Local' }),
    svc('b', { etp: 'Local', ports: [{ name: 'https', port: 443, targetPort: 443, protocol: 'TCP' }] }),
  ];
  // a: 3 ready on n1 (+1 not ready, +1 on n2); b: the same pod .1 and one more, on n1.
  const slices = [
    slice('a', ['10.0.0.1@n1', '10.0.0.2@n1', '10.0.0.3@n1', '10.0.0.4@n1!n', '10.0.0.5@n2']),
    slice('b', ['10.0.0.1@n1', '10.0.0.6@n1'], { ports: https }),
  ];
  const s = buildNodeDesiredState({ services, endpointSlices: slices, nodes: [node('n1')] }, 'n1', cfg);
  assert.deepEqual(s.advertisements.map((a) => [a.prefix, a.services, a.localReadyEndpoints, a.weighted]), [['192.0.2.10/32', ['default/a', 'default/b'], 5, true]]);

  const off = modelConfig({ pools: [{ cidrs: ['192.0.2.0/24'], communities: [], largeCommunities: [], weightedEcmp: false }] });
  assert.equal(buildNodeDesiredState({ services, endpointSlices: slices, nodes: [node('n1')] }, 'n1', off).advertisements[0]!.weighted, false);
  const cluster = [svc('a', { etp: 'Cluster' })];
  assert.equal(buildNodeDesiredState({ services: cluster, endpointSlices: slices, nodes: [node('n1')] }, 'n1', cfg).advertisements[0]!.weighted, false);
});
