/** FRR 8.4 vtysh JSON parsers, on outputs captured from the real daemons (frr-router.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseFrrBfdPeers, parseFrrBgpRoute, parseFrrBgpSummary, parseFrrIpRoute, parseFrrUpdateLog } from '../rig/parsers/frr-json.js';
import { BgpvsError } from '../../src/errors.js';

const fx = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/rig/${name}`, import.meta.url), 'utf8')) as unknown;

test('parseFrrBgpSummary: captured outputs', () => {
  const cases: { file: string; want: [string, number, string, number | undefined][] }[] = [
    { file: 'frr-summary-1.json', want: [['10.0.0.11', 65011, 'Established', 1]] },
    { file: 'frr-summary-2.json', want: [['10.0.0.11', 65011, 'Established', 1], ['10.0.0.12', 65012, 'Established', 1]] },
  ];
  for (const c of cases) {
    const got = parseFrrBgpSummary(fx(c.file)).map((p) => [p.address, p.remoteAs, p.state, p.prefixesReceived]);
    assert.deepEqual(got, c.want, c.file);
  }
  const [p] = parseFrrBgpSummary(fx('frr-summary-1.json'));
  assert.equal(p?.peerState, 'OK');
  assert.equal(p?.connectionsEstablished, 1);
});

test('parseFrrBgpSummary: wrapped form, non-established peers, empty and malformed', () => {
  const wrapped = { ipv4Unicast: { peers: { '10.0.0.12': { remoteAs: 65012, state: 'Active', peerState: 'OK' }, '10.0.0.9': { remoteAs: 65009, state: 'Idle' } } } };
  assert.deepEqual(
    parseFrrBgpSummary(wrapped).map((p) => [p.address, p.state]),
    [['10.0.0.9', 'Idle'], ['10.0.0.12', 'Active']],
  );
  assert.deepEqual(parseFrrBgpSummary({}), []);
  assert.throws(() => parseFrrBgpSummary([]), BgpvsError);
  assert.throws(() => parseFrrBgpSummary({ peers: { '10.0.0.1': { remoteAs: 1 } } }), /no state/);
});

test('parseFrrBgpRoute: GRACEFUL_SHUTDOWN community, ECMP paths, absent prefix', () => {
  const [g] = parseFrrBgpRoute(fx('frr-bgp-route-gshut.json'));
  assert.deepEqual(g, {
    asPath: '65011',
    valid: true,
    best: true,
    multipath: true,
    communities: ['graceful-shutdown'],
    extendedCommunities: [],
    largeCommunities: [],
    peer: '10.0.0.11',
    nexthop: '10.0.0.11',
    origin: 'IGP',
    localPref: 0,
  });
  const ecmp = parseFrrBgpRoute(fx('frr-bgp-route-ecmp.json'));
  assert.deepEqual(
    ecmp.map((p) => [p.nexthop, p.asPath, p.best, p.multipath]),
    [['10.0.0.12', '65012', false, true], ['10.0.0.11', '65011', true, true]],
  );
  assert.deepEqual(parseFrrBgpRoute(fx('frr-bgp-route-absent.json')), []);
  assert.throws(() => parseFrrBgpRoute({ paths: {} }), BgpvsError);
});

test('parseFrrBgpRoute: extended communities with link bandwidth, large communities', () => {
  const data = {
    paths: [
      {
        aspath: { string: '65011' },
        valid: true,
        bestpath: { overall: true },
        community: { string: '65000:100 no-export' },
        extendedCommunity: { string: 'RT:65000:1 LB:65011:375000 (3.000 Mbps)' },
        largeCommunity: { string: '65011:4242:1' },
        nexthops: [{ ip: '10.0.0.11' }],
      },
      { aspath: { string: '65012' }, valid: true, multipath: true, extendedCommunity: { string: 'LB:65012:125 (1.000 Kbps)' }, nexthops: [{ ip: '10.0.0.12' }] },
    ],
  };
  const [a, b] = parseFrrBgpRoute(data);
  assert.deepEqual(a?.communities, ['65000:100', 'no-export']);
  assert.deepEqual(a?.extendedCommunities, ['RT:65000:1', 'LB:65011:375000 (3.000 Mbps)']);
  assert.deepEqual(a?.largeCommunities, ['65011:4242:1']);
  assert.deepEqual(a?.linkBandwidth, { asn: 65011, bytesPerSecond: 375000, mbps: 3 });
  assert.deepEqual(b?.linkBandwidth, { asn: 65012, bytesPerSecond: 125, mbps: 0.001 });
  assert.equal(b?.best, false);
  assert.equal(b?.multipath, true);
});

test('parseFrrIpRoute: single, ECMP, weighted, absent', () => {
  const one = parseFrrIpRoute(fx('frr-ip-route-1.json'));
  assert.deepEqual(one, [
    { prefix: '10.100.0.10/32', protocol: 'bgp', selected: true, installed: true, distance: 20, metric: 0, nexthops: [{ ip: '10.0.0.11', interfaceName: 'br0', active: true, fib: true, weight: 1 }] },
  ]);
  const ecmp = parseFrrIpRoute(fx('frr-ip-route-ecmp.json'));
  assert.deepEqual(ecmp[0]?.nexthops.map((n) => [n.ip, n.weight, n.fib]), [['10.0.0.11', 1, true], ['10.0.0.12', 1, true]]);
  assert.deepEqual(parseFrrIpRoute(fx('frr-ip-route-absent.json')), []);
  const weighted = { '10.100.0.10/32': [{ protocol: 'bgp', selected: true, installed: true, nexthops: [{ ip: '10.0.0.11', active: true, fib: true, weight: 75 }, { ip: '10.0.0.12', active: true, weight: 25 }] }] };
  assert.deepEqual(parseFrrIpRoute(weighted)[0]?.nexthops.map((n) => [n.ip, n.weight, n.fib]), [['10.0.0.11', 75, true], ['10.0.0.12', 25, false]]);
  assert.throws(() => parseFrrIpRoute({ '10.0.0.0/8': {} }), BgpvsError);
});

test('link-bandwidth from GoBGP (captured): FRR paths, RIB weights 75/25', () => {
  const paths = parseFrrBgpRoute(fx('frr-bgp-route-lb.json'));
  assert.deepEqual(
    paths.map((p) => [p.nexthop, p.extendedCommunities, p.linkBandwidth, p.multipath]),
    [
      ['10.0.0.12', ['LB:65012:125000 (1.000 Mbps)'], { asn: 65012, bytesPerSecond: 125000, mbps: 1 }, true],
      ['10.0.0.11', ['LB:65011:375000 (3.000 Mbps)'], { asn: 65011, bytesPerSecond: 375000, mbps: 3 }, true],
    ],
  );
  const [r] = parseFrrIpRoute(fx('frr-ip-route-lb.json'));
  assert.deepEqual(r?.nexthops.map((n) => [n.ip, n.weight]), [['10.0.0.12', 25], ['10.0.0.11', 75]]);
});

test('parseFrrBfdPeers: up, down after a cut (captured), none, malformed', () => {
  assert.deepEqual(parseFrrBfdPeers(fx('frr-bfd-peers-up.json')), [
    {
      peer: '10.0.0.11',
      multihop: false,
      status: 'up',
      local: '10.0.0.1',
      interface: 'br0',
      diagnostic: 'ok',
      remoteDiagnostic: 'ok',
      receiveIntervalMs: 100,
      transmitIntervalMs: 100,
      detectMultiplier: 3,
      remoteReceiveIntervalMs: 100,
      remoteTransmitIntervalMs: 100,
      remoteDetectMultiplier: 3,
    },
  ]);
  const [d] = parseFrrBfdPeers(fx('frr-bfd-peers-down.json'));
  assert.deepEqual([d?.status, d?.diagnostic], ['down', 'control detection time expired']);
  assert.deepEqual(parseFrrBfdPeers([]), []);
  assert.deepEqual(parseFrrBfdPeers({}), []);
  assert.throws(() => parseFrrBfdPeers([{ status: 'up' }]), BgpvsError);
  assert.throws(() => parseFrrBfdPeers('x'), BgpvsError);
});

test('parseFrrUpdateLog: GRACEFUL_SHUTDOWN announcement then withdrawal (captured bgpd log)', () => {
  const text = readFileSync(new URL('./fixtures/rig/frr-bgpd-updates.log', import.meta.url), 'utf8');
  const ev = parseFrrUpdateLog(text);
  assert.deepEqual(
    ev.map((e) => [e.peer, e.kind, e.prefix, e.communities]),
    [
      ['10.0.0.11', 'announce', '10.100.0.10/32', ['graceful-shutdown']],
      ['10.0.0.11', 'withdraw', '10.100.0.10/32', undefined],
    ],
  );
  assert.deepEqual(ev[0]?.attrs, { nexthop: '10.0.0.11', origin: 'i', community: 'graceful-shutdown', path: '65011' });
  assert.match(ev[0]?.time ?? '', /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/);
});

test('parseFrrUpdateLog: attrs per peer, denied prefixes, unrelated lines', () => {
  const text = [
    '2026/11/22 23:00:00.001 BGP: [T5AAP-5GA85] 10.0.0.11(vm) rcvd UPDATE w/ attr: nexthop 10.0.0.11, origin i, community 65000:1 graceful-shutdown, path 65011',
    '2026/11/22 23:00:00.002 BGP: [T5AAP-5GA85] 10.0.0.12 rcvd UPDATE w/ attr: nexthop 10.0.0.12, origin i, path 65012',
    '2026/11/22 23:00:00.003 BGP: [YCKEM-GB33T] 10.0.0.11(vm) rcvd 10.100.0.10/32 IPv4 unicast',
    '2026/11/22 23:00:00.004 BGP: [YCKEM-GB33T] 10.0.0.12 rcvd 10.100.0.11/32 IPv4 unicast -- DENIED due to: filter;',
    '2026/11/22 23:00:00.005 ZEBRA: [XXXXX-XXXXX] something else',
    'garbage',
  ].join('\n');
  const ev = parseFrrUpdateLog(text);
  assert.deepEqual(ev.map((e) => [e.peer, e.prefix, e.communities, e.denied]), [
    ['10.0.0.11', '10.100.0.10/32', ['65000:1', 'graceful-shutdown'], undefined],
    ['10.0.0.12', '10.100.0.11/32', [], 'filter;'],
  ]);
  assert.deepEqual(parseFrrUpdateLog(''), []);
});
