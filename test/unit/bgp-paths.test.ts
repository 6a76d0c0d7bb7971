/** Advertisement → GoBGP v4 Path, and back: table-driven. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Advertisement } from '../../src/model/types.js';
import {
  communityToNumber,
  fromGobgpPath,
  isOurs,
  parseLargeCommunity,
  pathKey,
  toGobgpPath,
  wantedPaths,
  type PathOptions,
} from '../../src/bgp/paths.js';
import type { Path } from '../../src/bgp/gobgp-client.js';
import { ad } from './advertisement-fixture.js';

const opts: PathOptions = { nextHops: { IPv4: '10.0.0.11', IPv6: '2001:db8::11' }, marker: '65011:4242:1' };

test('communities parse as uint32 and reject what does not fit', () => {
  const cases: [string, number | undefined][] = [
    ['65011:100', 65011 * 65536 + 100],
    ['65535:0', 0xffff0000],
    ['0:0', 0],
    ['65536:1', undefined],
    ['1:65536', undefined],
    ['1', undefined],
    ['a:b', undefined],
    ['1:2:3', undefined],
  ];
  for (const [s, want] of cases) assert.equal(communityToNumber(s), want, s);
  assert.deepEqual(parseLargeCommunity('4200000000:1:2'), [4200000000, 1, 2]);
  assert.equal(parseLargeCommunity('4300000000:1:2'), undefined);
  assert.equal(parseLargeCommunity('1:2'), undefined);
});

test('wantedPaths: table', () => {
  const cases: { name: string; ads: Advertisement[]; opts?: Partial<PathOptions>; want: unknown; skipped?: unknown }[] = [
    {
      name: 'IPv4 with communities and local-pref, marker added',
      ads: [ad('192.0.2.10/32', { communities: ['65011:100', '0065011:100'], largeCommunities: ['1:2:3'], localPref: 200 })],
      want: [{ prefix: '192.0.2.10/32', family: 'IPv4', nextHop: '10.0.0.11', communities: ['65011:100'], largeCommunities: ['1:2:3', '65011:4242:1'], localPref: 200 }],
    },
    {
      name: 'IPv6 canonicalised',
      ads: [ad('2001:DB8:0:0::10/128')],
      want: [{ prefix: '2001:db8::10/128', family: 'IPv6', nextHop: '2001:db8::11', communities: [], largeCommunities: ['65011:4242:1'] }],
    },
    {
      name: 'same prefix twice merges, lowest local-pref wins',
      ads: [ad('192.0.2.10/32', { communities: ['1:1'], localPref: 200 }), ad('192.0.2.10/32', { communities: ['1:2'], localPref: 100 })],
      want: [{ prefix: '192.0.2.10/32', family: 'IPv4', nextHop: '10.0.0.11', communities: ['1:1', '1:2'], largeCommunities: ['65011:4242:1'], localPref: 100 }],
    },
    {
      name: 'graceful shutdown adds 65535:0 and local-pref 0',
      ads: [ad('192.0.2.10/32', { localPref: 200 })],
      opts: { gracefulShutdown: true },
      want: [{ prefix: '192.0.2.10/32', family: 'IPv4', nextHop: '10.0.0.11', communities: ['65535:0'], largeCommunities: ['65011:4242:1'], localPref: 0 }],
    },
    {
      name: 'no IPv6 next hop: IPv6 skipped',
      ads: [ad('2001:db8::10/128'), ad('bogus'), ad('192.0.2.1/32', { communities: ['x'] })],
      opts: { nextHops: { IPv4: '10.0.0.11' } },
      want: [],
      skipped: [
        { prefix: '2001:db8::10/128', reason: 'noNextHopForFamily' },
        { prefix: 'bogus', reason: 'invalidPrefix' },
        { prefix: '192.0.2.1/32', reason: 'invalidCommunity: x' },
      ],
    },
    {
      name: 'link-bandwidth hook',
      ads: [ad('192.0.2.10/32', { weighted: true, localReadyEndpoints: 3 })],
      opts: { linkBandwidth: (a) => (a.weighted ? { asn: 65011, bytesPerSecond: a.localReadyEndpoints * 1000 } : undefined) },
      want: [{ prefix: '192.0.2.10/32', family: 'IPv4', nextHop: '10.0.0.11', communities: [], largeCommunities: ['65011:4242:1'], linkBandwidth: { asn: 65011, bytesPerSecond: 3000 } }],
    },
  ];
  for (const c of cases) {
    const got = wantedPaths(c.ads, { ...opts, ...c.opts });
    assert.deepEqual(got.paths, c.want, c.name);
    assert.deepEqual(got.skipped, c.skipped ?? [], c.name);
  }
});

test('toGobgpPath: IPv4 uses NEXT_HOP, IPv6 uses MP_REACH; round-trips through fromGobgpPath', () => {
  const { paths } = wantedPaths(
    [ad('192.0.2.10/32', { communities: ['65011:100'], largeCommunities: ['7:8:9'], localPref: 150 }), ad('2001:db8::10/128')],
    { ...opts, linkBandwidth: () => ({ asn: 65011, bytesPerSecond: 125000 }) },
  );
  const v4 = toGobgpPath(paths[0]!);
  assert.deepEqual(v4.family, { afi: 'AFI_IP', safi: 'SAFI_UNICAST' });
  assert.deepEqual(v4.nlri, { prefix: { prefix: '192.0.2.10', prefix_len: 32 } });
  assert.deepEqual(v4.pattrs[0], { origin: { origin: 0 } });
  assert.deepEqual(v4.pattrs[1], { next_hop: { next_hop: '10.0.0.11' } });
  assert.ok(v4.pattrs.some((a) => a.communities?.communities[0] === 65011 * 65536 + 100));
  const v6 = toGobgpPath(paths[1]!);
  assert.deepEqual(v6.family, { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });
  assert.deepEqual(v6.pattrs[1]?.mp_reach?.next_hops, ['2001:db8::11']);
  assert.ok(!v6.pattrs.some((a) => a.next_hop));
  for (const p of paths) assert.equal(pathKey(fromGobgpPath(toGobgpPath(p))!), pathKey(p));
});

test('isOurs: only local paths carrying the marker', () => {
  const base = toGobgpPath(wantedPaths([ad('192.0.2.10/32')], opts).paths[0]!);
  const cases: [string, Path, boolean][] = [
    ['ours', { ...base, neighbor_ip: '' }, true],
    ['ours (v3-style <nil>)', { ...base, neighbor_ip: '<nil>' }, true],
    ['learned from a peer', { ...base, neighbor_ip: '10.0.0.1' }, false],
    ['external', { ...base, is_from_external: true }, false],
    ['no marker', { ...base, pattrs: base.pattrs.filter((a) => !a.large_communities) }, false],
  ];
  for (const [name, p, want] of cases) assert.equal(isOurs(p, opts.marker), want, name);
  assert.equal(isOurs(base, '65011:4242:2'), false, 'other marker');
});
