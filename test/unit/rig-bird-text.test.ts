/** birdc text parsers, on outputs captured from the real BIRD 2.0.12 (bird-router.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBirdBfdSessions, parseBirdProtocols, parseBirdRoutes } from '../rig/parsers/bird-text.js';
import { renderBirdConfig } from '../rig/bird-router.js';
import { ConfigError } from '../../src/errors.js';

const fx = (name: string) => readFileSync(new URL(`./fixtures/rig/${name}`, import.meta.url), 'utf8');

test('parseBirdProtocols: established and connecting BGP sessions (captured)', () => {
  const ps = parseBirdProtocols(fx('bird-protocols-1.txt'));
  assert.deepEqual(ps.map((p) => [p.name, p.proto, p.state]), [['device1', 'Device', 'up'], ['kern4', 'Kernel', 'up'], ['node0', 'BGP', 'up'], ['ghost', 'BGP', 'start']]);
  const node0 = ps[2]!;
  assert.equal(node0.info, 'Established');
  assert.deepEqual(node0.bgp, {
    state: 'Established',
    neighborAddress: '10.0.0.11',
    neighborAs: 65011,
    localAs: 65000,
    neighborId: '10.0.0.11',
    session: 'external AS4',
    sourceAddress: '10.0.0.1',
    holdTimeSeconds: 90,
    keepaliveSeconds: 30,
  });
  assert.deepEqual(node0.channels, [
    { name: 'ipv4', state: 'UP', table: 'master4', preference: 100, importFilter: 'ACCEPT', exportFilter: 'REJECT', routes: { imported: 1, exported: 0, preferred: 1 } },
  ]);
  assert.deepEqual(ps[3]?.bgp, { state: 'Connect', neighborAddress: '10.0.0.99', neighborAs: 65099, localAs: 65000 });
  assert.equal(ps[3]?.channels[0]?.state, 'DOWN');
  assert.equal(ps[1]?.bgp, undefined);
  assert.deepEqual(ps[1]?.channels[0]?.routes, { imported: 0, exported: 1, preferred: 0 });
});

test('parseBirdProtocols: two nodes, start-up (Active), short form', () => {
  assert.deepEqual(parseBirdProtocols(fx('bird-protocols-2.txt')).filter((p) => p.bgp).map((p) => [p.name, p.bgp?.state, p.channels[0]?.routes?.imported]), [
    ['node0', 'Established', 1],
    ['node1', 'Established', 1],
  ]);
  assert.deepEqual(parseBirdProtocols(fx('bird-protocols-starting.txt')).filter((p) => p.bgp).map((p) => [p.name, p.state, p.bgp?.state, p.info]), [
    ['node0', 'start', 'Active', 'Active'],
    ['node1', 'start', 'Active', 'Active'],
    ['node2', 'start', 'Active', 'Active'],
  ]);
  const short = parseBirdProtocols(fx('bird-protocols-short.txt'));
  assert.deepEqual(short.map((p) => [p.name, p.state, p.info, p.bgp]), [
    ['device1', 'up', '', undefined],
    ['kern4', 'up', '', undefined],
    ['node0', 'up', 'Established', undefined],
    ['node1', 'up', 'Established', undefined],
    ['node2', 'start', 'Connect', undefined],
  ]);
  assert.deepEqual(parseBirdProtocols(''), []);
});

test('parseBirdProtocols: dated since, last error, filtered count', () => {
  const text = [
    'BIRD 2.0.12 ready.',
    'Name       Proto      Table      State  Since         Info',
    'peer1      BGP        ---        start  2026-11-21 23:49:14  Active        Socket: Connection refused',
    '  BGP state:          Active',
    '    Neighbor address: 10.0.0.11',
    '    Neighbor AS:      65011',
    '    Local AS:         65000',
    '    Connect delay:    2.997/5',
    '    Last error:       Socket: Connection refused',
    '  Channel ipv4',
    '    State:          DOWN',
    '    Routes:         3 imported, 2 filtered, 0 exported, 1 preferred',
    '',
  ].join('\n');
  const [p] = parseBirdProtocols(text);
  assert.equal(p?.since, '2026-11-21 23:49:14');
  assert.equal(p?.info, 'Active Socket: Connection refused');
  assert.equal(p?.bgp?.lastError, 'Socket: Connection refused');
  assert.deepEqual(p?.channels[0]?.routes, { imported: 3, exported: 0, preferred: 1, filtered: 2 });
});

test('parseBirdRoutes: GRACEFUL_SHUTDOWN + large community, ECMP alternatives (captured)', () => {
  const [g] = parseBirdRoutes(fx('bird-route-gshut.txt'));
  assert.deepEqual(
    { ...g, attrs: undefined },
    {
      prefix: '10.100.0.10/32',
      table: 'master4',
      type: 'unicast',
      protocol: 'node0',
      since: g?.since,
      primary: true,
      preference: 100,
      nexthops: [{ gateway: '10.0.0.11', dev: 'br0' }],
      source: 'BGP univ',
      origin: 'IGP',
      asPath: '65011',
      bgpNextHop: '10.0.0.11',
      localPref: 100,
      communities: ['65535:0'],
      largeCommunities: ['65011:4242:1'],
      extCommunities: [],
      attrs: undefined,
    },
  );
  assert.equal(g?.attrs['BGP.community'], '(65535,0)');
  const all = parseBirdRoutes(fx('bird-route-all.txt'));
  assert.deepEqual(all.map((r) => [r.prefix, r.protocol, r.primary, r.bgpNextHop, r.communities.length]), [
    ['10.100.0.20/32', 'node0', true, '10.0.0.11', 0],
    ['10.100.0.10/32', 'node0', true, '10.0.0.11', 1],
    ['10.100.0.10/32', 'node1', false, '10.0.0.12', 0],
  ]);
  const ecmp = parseBirdRoutes(fx('bird-route-ecmp.txt'));
  assert.deepEqual(ecmp.map((r) => r.bgpNextHop).sort(), ['10.0.0.11', '10.0.0.12']);
  assert.deepEqual(parseBirdRoutes('BIRD 2.0.12 ready.\n'), []);
});

test('parseBirdRoutes: multipath nexthops with weights, ext communities, MED', () => {
  const text = [
    'Table master4:',
    '10.100.0.10/32       unicast [static1 2026-11-21] * (200)',
    '\tvia 10.0.0.11 on br0 weight 3',
    '\tvia 10.0.0.12 on br0 weight 1',
    '\tType: static univ',
    '10.9.0.0/16          blackhole [static1 23:00:00.000] * (200)',
    '\tType: static univ',
    '10.100.0.30/32       unicast [node0 23:49:16.253] * (100) [AS65011i]',
    '\tvia 10.0.0.11 on br0',
    '\tBGP.med: 10',
    '\tBGP.ext_community: (rt, 65000, 1) (generic, 0x40040000, 0x4a371b00)',
    '',
  ].join('\n');
  const rs = parseBirdRoutes(text);
  assert.deepEqual(rs[0]?.nexthops, [{ gateway: '10.0.0.11', dev: 'br0', weight: 3 }, { gateway: '10.0.0.12', dev: 'br0', weight: 1 }]);
  assert.equal(rs[1]?.type, 'blackhole');
  assert.deepEqual(rs[1]?.nexthops, []);
  assert.equal(rs[2]?.med, 10);
  assert.deepEqual(rs[2]?.extCommunities, ['rt, 65000, 1', 'generic, 0x40040000, 0x4a371b00']);
});

test('renderBirdConfig: kernel ECMP, BFD, per-neighbor options', () => {
  const conf = renderBirdConfig(
    {
      asn: 65000,
      routerId: '10.0.0.1',
      neighbors: [
        { address: '10.0.0.11', asn: 65011, name: 'node0', bfd: true, timers: { holdSeconds: 3, keepaliveSeconds: 1 } },
        { address: '10.0.0.12', asn: 65012, port: 1790, password: 's3cret', localAddress: '10.0.0.1' },
      ],
      bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
      mergePaths: { limit: 8 },
    },
    { logFile: '/tmp/b/bird.log' },
  );
  assert.equal(
    conf,
    [
      'log "/tmp/b/bird.log" all;',
      'router id 10.0.0.1;',
      '',
      'protocol device { scan time 10; }',
      '',
      'protocol kernel kern4 {',
      '  ipv4 { import none; export where source = RTS_BGP; };',
      '  merge paths on limit 8;',
      '}',
      '',
      'protocol bfd bfd1 {',
      '  interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };',
      '}',
      '',
      'protocol bgp node0 {',
      '  local as 65000;',
      '  neighbor 10.0.0.11 as 65011;',
      '  connect delay time 1;',
      '  connect retry time 1;',
      '  hold time 3;',
      '  keepalive time 1;',
      '  bfd on;',
      '  ipv4 { import all; export none; };',
      '}',
      '',
      'protocol bgp peer_10_0_0_12 {',
      '  local 10.0.0.1 as 65000;',
      '  neighbor 10.0.0.12 port 1790 as 65012;',
      '  connect delay time 1;',
      '  connect retry time 1;',
      '  password "s3cret";',
      '  ipv4 { import all; export none; };',
      '}',
      '',
    ].join('\n'),
  );
  assert.throws(() => renderBirdConfig({ asn: 1, routerId: '10.0.0.1', neighbors: [{ address: '10.0.0.11', asn: 2, password: 'a"b' }] }), ConfigError);
  assert.doesNotMatch(renderBirdConfig({ asn: 1, routerId: '10.0.0.1', neighbors: [], mergePaths: false }), /merge paths|protocol bfd/);
});

test('parseBirdBfdSessions: Up and Down after a cut (captured), dated since, empty', () => {
  assert.deepEqual(parseBirdBfdSessions(fx('bird-bfd-up.txt')), [
    { protocol: 'bfd1', address: '10.0.0.11', interface: 'br0', state: 'Up', since: '23:56:43.024', intervalMs: 100, timeoutMs: 300 },
  ]);
  assert.deepEqual(parseBirdBfdSessions(fx('bird-bfd-down.txt')).map((s) => [s.state, s.intervalMs, s.timeoutMs]), [['Down', 1000, 0]]);
  const dated = 'bfd1:\nIP address                Interface  State      Since         Interval  Timeout\n10.0.0.12                 br0        Init       2026-11-21 23:00:00    1.000    3.000\n';
  assert.deepEqual(parseBirdBfdSessions(dated)[0]?.since, '2026-11-21 23:00:00');
  assert.deepEqual(parseBirdBfdSessions('BIRD 2.0.12 ready.\n'), []);
});

test('parseBirdProtocols: BGP session after BFD took it down (captured)', () => {
  const p = parseBirdProtocols(fx('bird-protocols-bfd-down.txt')).find((x) => x.name === 'node0');
  assert.notEqual(p?.bgp?.state, 'Established');
  assert.match(p?.bgp?.lastError ?? '', /BFD session down/);
});
