import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fitBackends, renderNft, type MaglevFn } from '../../src/dataplane/nft/render.js';
import type { VirtualServer } from '../../src/model/types.js';
import { clusterDsrContext, nodeAddressesOf } from '../../src/dataplane/nft/cluster-dsr.js';
import { fixtureCluster, fixtureDr, fixtureNode, fixtureVs } from './nft-fixtures.js';

const golden = (n: string): URL => new URL(`./golden/${n}`, import.meta.url);
const update = process.env.BGPVS_UPDATE_GOLDEN === '1';

function checkGolden(name: string, text: string): void {
  if (update) writeFileSync(golden(name), text);
  assert.equal(text, readFileSync(golden(name), 'utf8'), `golden ${name} (BGPVS_UPDATE_GOLDEN=1 to rewrite)`);
}

test('nft render: NAT + DR + IPv6 + affinity matches the golden script (M=7)', () => {
  const r = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7, dr: fixtureDr });
  checkGolden('nft-nat-dr.nft', r.script);
  assert.deepEqual(r.skipped, [{ vip: '10.100.0.30', port: 80, protocol: 'TCP', reason: 'noBackendWithWeight' }]);
});

test('nft render: without a DR context, DR virtual servers are skipped and the netdev table is removed', () => {
  const r = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7 });
  checkGolden('nft-nat-only.nft', r.script);
  assert.ok(r.skipped.some((s) => s.vip === '10.100.0.20' && s.reason === 'drWithoutDevice'));
});

test('nft render: deterministic whatever the input order', () => {
  const a = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7, dr: fixtureDr }).script;
  const b = renderNft({ virtualServers: [...fixtureVs].reverse(), nodeName: fixtureNode, buckets: 7, dr: fixtureDr }).script;
  assert.equal(a, b);
});

test('nft render: the injected Maglev function decides every bucket; weight-0 backends get none', () => {
  const calls: { id: string; weight: number }[][] = [];
  const fake: MaglevFn = (bs, size) => {
    calls.push(bs);
    return Array.from({ length: size }, (_, i) => i % bs.length);
  };
  const r = renderNft({ virtualServers: [fixtureVs[0]!], nodeName: fixtureNode, buckets: 5, maglev: fake });
  assert.deepEqual(calls, [[{ id: '10.0.0.21:8080', weight: 1 }, { id: '10.0.0.22:8080', weight: 2 }]]);
  const m = r.maps.find((x) => x.name === 'be4');
  assert.deepEqual(m?.elements, [
    ['10.100.0.10 . tcp . 80 . 0', '10.0.0.21 . 8080'],
    ['10.100.0.10 . tcp . 80 . 1', '10.0.0.22 . 8080'],
    ['10.100.0.10 . tcp . 80 . 2', '10.0.0.21 . 8080'],
    ['10.100.0.10 . tcp . 80 . 3', '10.0.0.22 . 8080'],
    ['10.100.0.10 . tcp . 80 . 4', '10.0.0.21 . 8080'],
  ]);
});

test('nft render: Cluster with remote real servers marks for masquerade; only-local (Local policy) never does', () => {
  const base = { protocol: 'TCP', family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0, forwarding: 'nat', services: ['x/y'] } as const;
  const r = renderNft({
    nodeName: 'a',
    buckets: 5,
    virtualServers: [
      // Cluster: one local, one remote, one with no node (unknown → remote), a drained remote one (no traffic, not in the set)
      { ...base, vip: '10.100.0.1', port: 80, realServers: [
        { address: '10.244.1.5', port: 80, weight: 1, nodeName: 'a' },
        { address: '10.244.2.5', port: 80, weight: 1, nodeName: 'b' },
        { address: '192.0.2.7', port: 80, weight: 1 },
        { address: '10.244.3.5', port: 80, weight: 0, nodeName: 'c' },
      ] },
      // what the builder gives a Local-policy Service: this node's endpoints only
      { ...base, vip: '10.100.0.2', port: 80, realServers: [{ address: '10.244.1.6', port: 80, weight: 1, nodeName: 'a' }] },
      { ...base, vip: '2001:db8::1', family: 'IPv6', port: 80, realServers: [{ address: '2001:db8:2::5', port: 80, weight: 1, nodeName: 'b' }] },
    ],
  });
  const set = (n: string) => r.maps.find((m) => m.name === n)?.elements.map(([k]) => k);
  assert.deepEqual(set('masq4'), ['10.100.0.1 . tcp . 80'], 'only the virtual server with remote real servers is marked');
  assert.deepEqual(set('svc4'), ['10.100.0.1 . tcp . 80', '10.100.0.2 . tcp . 80'], 'the local-only one (Local policy) is DNATed, never marked');
  assert.deepEqual(set('masq6'), ['2001:db8::1 . tcp . 80']);
  assert.deepEqual(set('remote4'), ['10.244.2.5', '192.0.2.7']);
  assert.deepEqual(set('remote6'), ['2001:db8:2::5']);
  assert.match(r.script, /ip daddr . meta l4proto . th dport @masq4 meta mark set meta mark \| 0x00001000\n/);
  assert.match(r.script, /type nat hook postrouting priority srcnat;[^}]*meta mark & 0x00001000 == 0x00000000 return\n\s*meta mark set meta mark & 0xffffefff\n\s*ip daddr @remote4 masquerade\n\s*ip6 daddr @remote6 masquerade/);
  const other = renderNft({ nodeName: 'b', buckets: 5, masqMark: 0x20000, virtualServers: [{ ...base, vip: '10.100.0.1', port: 80, realServers: [{ address: '10.244.2.5', port: 80, weight: 1, nodeName: 'b' }] }] });
  assert.deepEqual(other.maps.find((m) => m.name === 'masq4')?.elements, [], 'the endpoint is local on node b');
  assert.deepEqual(other.maps.find((m) => m.name === 'remote4')?.elements, []);
  assert.match(other.script, /meta mark & 0x00020000 == 0x00000000 return/);
});

test('nft render: one fragment per virtual server, the elements it owns; affinity picks the client-address-only hash', () => {
  const r = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7, dr: fixtureDr });
  assert.deepEqual(r.fragments.map((f) => [f.id, f.map, f.sets, f.buckets.filter((b) => b !== '').length]), [
    ['inet 10.100.0.10 . tcp . 80', 'be4', [['svc4', '10.100.0.10 . tcp . 80'], ['masq4', '10.100.0.10 . tcp . 80'], ['remote4', '10.0.0.22']], 7],
    ['inet 10.100.0.10 . udp . 53', 'be4', [['aff4', '10.100.0.10 . udp . 53']], 7],
    ['netdev 10.100.0.20 . tcp . 80', 'drbe4', [['drsvc4', '10.100.0.20 . tcp . 80']], 7],
    ['inet 2001:db8::10 . tcp . 443', 'be6', [['svc6', '2001:db8::10 . tcp . 443'], ['masq6', '2001:db8::10 . tcp . 443'], ['remote6', '2001:db8:1::22']], 7],
  ]);
  assert.match(r.script, /@aff4 dnat ip to ip daddr . meta l4proto . th dport . jhash ip saddr mod 7 seed 0xb9f5 map @be4\n/);
  assert.match(r.script, /@svc4 dnat ip to ip daddr . meta l4proto . th dport . jhash ip saddr . th sport mod 7 seed 0xb9f5 map @be4\n/);
});

test('nft render: Cluster DSR forwards remote buckets to on-link nodes in the netdev table (golden, M=7)', () => {
  const r = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7, dr: fixtureDr, cluster: fixtureCluster });
  checkGolden('nft-nat-cluster-dsr.nft', r.script);
  assert.match(r.script, /chain cluster \{\n\s*type filter hook ingress device "eth0" priority 0; policy accept;\n/);
  assert.match(r.script, /meta pkttype host ip ttl > 1 meta l4proto \{ tcp, udp, sctp \} ip daddr \. meta l4proto \. th dport @fwsvc4 fwd ip to ip daddr \. meta l4proto \. th dport \. jhash ip saddr \. th sport mod 7 seed 0xb9f5 map @fwd4 device "eth0"\n/);
  const be = new Map(r.maps.find((m) => m.name === 'be4')!.elements);
  const fwd = r.maps.find((m) => m.name === 'fwd4')!.elements;
  // exactly the buckets of 10.100.0.10:80 whose backend is node2's go to node2; node1's own stay for the NAT table
  const tcp = [...be].filter(([k]) => k.startsWith('10.100.0.10 . tcp . 80 . '));
  assert.deepEqual(fwd, tcp.filter(([, v]) => v === '10.0.0.22 . 8080').map(([k]) => [k, '10.0.0.12']));
  assert.ok(fwd.length > 0 && fwd.length < tcp.length);
  assert.deepEqual(r.maps.find((m) => m.name === 'fwsvc4')!.elements, [['10.100.0.10 . tcp . 80', '']]);
  assert.deepEqual(r.maps.find((m) => m.name === 'fwaff4')!.elements, [], 'the UDP one has only a local backend');
  // the NAT table is unchanged: same buckets, masquerade kept as the fallback
  const plain = renderNft({ virtualServers: fixtureVs, nodeName: fixtureNode, buckets: 7, dr: fixtureDr });
  assert.deepEqual(r.maps.filter((m) => m.table === 'inet'), plain.maps.filter((m) => m.table === 'inet'));
  // the IPv6 one stays masqueraded: no forwarding fragment
  assert.ok(!r.fragments.some((f) => f.map === 'fwd6' || (f.map === 'fwd4' && f.key.includes(':'))));
});

test('nft render: Cluster DSR forwards nothing on the backend\'s own node (no loop), and masquerades nodes it cannot reach', () => {
  const b = renderNft({ virtualServers: fixtureVs, nodeName: 'node2', buckets: 7, cluster: { device: 'eth0', nodes: new Map([['node1', '10.0.0.11']]) } });
  const fwd = b.maps.find((m) => m.name === 'fwd4')!.elements;
  const be = new Map(b.maps.find((m) => m.name === 'be4')!.elements);
  assert.ok(fwd.length > 0 && fwd.every(([k, v]) => v === '10.0.0.11' && be.get(k)?.startsWith('10.0.0.21 . ')), 'node2 forwards only node1\'s buckets');
  assert.ok(!fwd.some(([k]) => be.get(k)?.startsWith('10.0.0.22 . ')), 'its own backend\'s buckets are not forwarded');
  assert.deepEqual(b.maps.find((m) => m.name === 'fwaff4')!.elements, [['10.100.0.10 . udp . 53', '']], 'affinity: the client-address-only hash');
  // node3's backend (not on-link: not in the context) keeps the masquerade path and gets no forwarding
  const vs3 = { ...fixtureVs[0]!, realServers: [{ address: '10.0.3.5', port: 80, weight: 1, nodeName: 'node3' }] };
  const c = renderNft({ virtualServers: [vs3], nodeName: 'node1', buckets: 7, cluster: fixtureCluster });
  assert.deepEqual(c.maps.find((m) => m.name === 'fwd4')!.elements, []);
  assert.deepEqual(c.maps.find((m) => m.name === 'remote4')!.elements, [['10.0.3.5', '']]);
});

test('cluster DSR context: the device holds this node\'s address; other nodes inside its prefixes are on-link', () => {
  const ifaces = [
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifname: 'eth1', addr_info: [{ family: 'inet', local: '10.0.0.11', prefixlen: 24 }] },
    { ifname: 'cbr0', addr_info: [{ family: 'inet', local: '10.244.1.1', prefixlen: 24 }] },
  ];
  const nodes = nodeAddressesOf([
    { metadata: { name: 'node1' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.11' }] } },
    { metadata: { name: 'node2' }, status: { addresses: [{ type: 'Hostname', address: 'node2' }, { type: 'InternalIP', address: 'fd00::12' }, { type: 'InternalIP', address: '10.0.0.12' }] } },
    { metadata: { name: 'node3' }, status: { addresses: [{ type: 'InternalIP', address: '10.9.0.13' }] } }, // routed, not on-link
    { metadata: { name: 'node4' }, status: { addresses: [{ type: 'ExternalIP', address: '10.0.0.14' }] } },
    { metadata: { name: 'node5' }, status: { addresses: [{ type: 'InternalIP', address: '10.244.1.1' }] } }, // ours: never
  ]);
  const c = clusterDsrContext(ifaces, { name: 'node1', address: '10.0.0.11' }, nodes);
  assert.deepEqual(c, { device: 'eth1', nodes: new Map([['node2', '10.0.0.12'], ['node4', '10.0.0.14']]) });
  assert.equal(clusterDsrContext(ifaces, { name: 'node1', address: '10.0.0.99' }, nodes), undefined, 'this node\'s address on no interface: no DSR');
});

test('nft render: more backends than buckets — M of them serve, the same M whatever the order, and the pass goes on', () => {
  const rs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ address: `10.244.${(from + i) >> 8}.${(from + i) & 255}`, port: 80, weight: 1, nodeName: fixtureNode }));
  const vs = (realServers: VirtualServer['realServers'], vip = '10.100.0.30'): VirtualServer => ({ vip, port: 80, protocol: 'TCP', family: 'IPv4', scheduler: 'mh', forwarding: 'nat', persistenceSeconds: 0, realServers } as unknown as VirtualServer);
  const many = rs(40);
  const r = renderNft({ virtualServers: [vs(many), vs(rs(3), '10.100.0.31')], nodeName: fixtureNode, buckets: 31 });
  assert.deepEqual(r.skipped, []);
  const [big, small] = r.fragments;
  assert.equal(new Set(big!.buckets).size, 31, 'every bucket has its own backend: 31 of the 40 serve');
  assert.match(big!.warning ?? '', /^tooManyBackends: 40 ready backends, the Maglev table has 31 buckets/);
  assert.equal(small!.warning, undefined);
  assert.equal(new Set(small!.buckets).size, 3, 'the other Service is programmed as usual');
  // The choice does not depend on input order (every node must choose the same backends).
  const serving = new Set(fitBackends(many, 31).serving.map((b) => b.address));
  assert.deepEqual(new Set(fitBackends([...many].reverse(), 31).serving.map((b) => b.address)), serving);
  // Stable: removing a backend that does not serve changes nothing; removing one that does brings in exactly one.
  const idle = many.find((b) => !serving.has(b.address))!;
  assert.deepEqual(new Set(fitBackends(many.filter((b) => b !== idle), 31).serving.map((b) => b.address)), serving);
  const busy = many.find((b) => serving.has(b.address))!;
  const after = new Set(fitBackends(many.filter((b) => b !== busy), 31).serving.map((b) => b.address));
  assert.equal([...after].filter((a) => !serving.has(a)).length, 1);
  assert.equal(after.size, 31);
  assert.deepEqual(fitBackends(rs(31), 31), { serving: rs(31) });
});
