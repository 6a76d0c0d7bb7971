import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { mergePeers, nodeOverrides, peerFromObject, peersForNode, secretKey } from '../../src/agent/peers.js';
import { renderPeer } from '../../src/bgp/config.js';
import type { StaticPeer } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

const node = (labels: Record<string, string>, annotations: Record<string, string> = {}): V1Node => ({ metadata: { name: 'n1', labels, annotations } });
const rack = (r: string) => ({ matchLabels: { 'topology.example.com/rack': r } });
const peers: StaticPeer[] = [
  { address: '10.0.0.1', asn: 64512, port: 179, nodeSelector: rack('a') },
  { address: '10.0.1.1', asn: 64513, port: 179, nodeSelector: rack('b') },
  { address: '10.9.9.9', asn: 64514, port: 179, passwordSecret: { namespace: 'bgpvs-system', name: 'tor', key: 'password' } },
];

test('peers: a node peers only with routers whose selector matches it', () => {
  const secrets = new Map([[secretKey(peers[2]!.passwordSecret!), 's3cret']]);
  const a = peersForNode(peers, node({ 'topology.example.com/rack': 'a' }), secrets);
  assert.deepEqual(a.peers.map((p) => p.address), ['10.0.0.1', '10.9.9.9']);
  assert.equal(a.peers[1]!.password, 's3cret');
  assert.ok(!('passwordSecret' in a.peers[1]!) && !('nodeSelector' in a.peers[0]!), 'selection fields do not reach gobgpd');
  const b = peersForNode(peers, node({ 'topology.example.com/rack': 'b' }), secrets);
  assert.deepEqual(b.peers.map((p) => p.address), ['10.0.1.1', '10.9.9.9']);
});

test('peers: a missing password Secret leaves that peer out, with a message naming the Secret', () => {
  const r = peersForNode(peers, node({ 'topology.example.com/rack': 'a' }), new Map());
  assert.deepEqual(r.peers.map((p) => p.address), ['10.0.0.1']);
  assert.match(r.problems[0]!, /peer 10\.9\.9\.9: password Secret bgpvs-system\/tor key password not found/);
});

test('peers: per-node ASN and router-id overrides from annotations; bad ones are reported, not used', () => {
  assert.deepEqual(nodeOverrides(node({}, { 'bgpvs.io/asn': '65010', 'bgpvs.io/router-id': '10.0.0.11' })), { asn: 65010, routerId: '10.0.0.11', problems: [] });
  const bad = nodeOverrides(node({}, { 'bgpvs.io/asn': 'x', 'bgpvs.io/router-id': '2001:db8::1' }));
  assert.equal(bad.asn, undefined);
  assert.equal(bad.routerId, undefined);
  assert.match(bad.problems[0]!, /annotation bgpvs\.io\/asn: not an ASN/);
  assert.match(bad.problems[1]!, /router-id is an IPv4 address/);
  assert.deepEqual(nodeOverrides(undefined), { problems: [] });
});

test('config: peers with passwordSecretRef and nodeSelector; a plain password is refused', () => {
  const c = loadConfig({
    argv: ['--node-name=n', '--bgp.asn=65001', '--bgp.peers=[{"address":"10.0.0.1","asn":64512,"passwordSecretRef":{"namespace":"x","name":"y","key":"z"},"nodeSelector":{"matchLabels":{"rack":"a"}}}]'],
  });
  assert.deepEqual(c.bgp.peers[0], { address: '10.0.0.1', asn: 64512, port: 179, passwordSecret: { namespace: 'x', name: 'y', key: 'z' }, nodeSelector: { matchLabels: { rack: 'a' } } });
  assert.throws(
    () => loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"password":"p","passwordSecretRef":{"namespace":"x","name":"y","key":"z"}}]'] }),
    (e: unknown) => e instanceof ConfigError && /^--bgp\.peers\[0\]\.password: unknown field/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"nodeSelector":{"matchLabels":{"rack":1}}}]'] }),
    (e: unknown) => e instanceof ConfigError && /nodeSelector\.matchLabels\.rack: must be a string/.test(e.message),
  );
});

test('BGPPeer objects: mapped to peers; config peers win an address; what cannot be used is reported by name', () => {
  const obj = (name: string, spec: Record<string, unknown>) => ({ metadata: { name }, spec });
  const { peers, problems } = mergePeers(
    [{ address: '10.0.0.1', asn: 64512, port: 179 }],
    [
      obj('tor-b', { address: '10.0.0.2', asn: 64513, bfd: { enabled: true, minRxMs: 100 }, passwordSecretRef: { namespace: 'ns', name: 's' }, nodeSelector: { matchLabels: { rack: 'a' } } }),
      obj('dup', { address: '10.0.0.1', asn: 64999 }),
      obj('a-local-asn', { address: '10.0.0.4', asn: 64515, localASN: 65010 }),
      obj('bfd-off', { address: '10.0.0.5', asn: 64516, port: 1179, bfd: { enabled: false } }),
      obj('no-asn', { address: '10.0.0.6' }),
    ],
  );
  assert.deepEqual(peers, [
    { address: '10.0.0.1', asn: 64512, port: 179, source: 'config' },
    { address: '10.0.0.5', asn: 64516, port: 1179, source: 'BGPPeer/bfd-off' },
    {
      address: '10.0.0.2',
      asn: 64513,
      port: 179,
      source: 'BGPPeer/tor-b',
      passwordSecret: { namespace: 'ns', name: 's', key: 'password' },
      bfd: { minRxMs: 100, minTxMs: 300, multiplier: 3 },
      nodeSelector: { matchLabels: { rack: 'a' } },
    },
  ]);
  assert.deepEqual(problems.map((p) => p.name), ['a-local-asn', 'dup', 'no-asn']);
  assert.match(problems[1]!.reason, /already a peer from the agent config/);
  // The node selector of an object applies like a config peer's.
  const n = (labels: Record<string, string>) => ({ metadata: { name: 'n', labels } });
  assert.deepEqual(peersForNode(peers, n({ rack: 'b' }), new Map([['ns/s#password', 'pw']])).peers.map((p) => p.address), ['10.0.0.1', '10.0.0.5']);
  const onA = peersForNode(peers, n({ rack: 'a' }), new Map([['ns/s#password', 'pw']])).peers;
  assert.deepEqual(onA.find((p) => p.address === '10.0.0.2')?.password, 'pw');
  assert.equal('source' in (onA[0] as object), false, 'the source tag does not reach gobgpd');
});

test('BGPPeer objects: graceful restart and address families reach the rendered gobgpd peer', () => {
  const obj = (name: string, spec: Record<string, unknown>) => ({ metadata: { name }, spec });
  const r = peerFromObject(obj('gr', { address: '10.0.0.2', asn: 64513, gracefulRestart: { enabled: true, restartTimeSeconds: 90 }, families: ['ipv6-unicast', 'ipv4-unicast'] }));
  assert.ok('peer' in r, JSON.stringify(r));
  assert.deepEqual([r.peer.gracefulRestart, r.peer.families], [{ restartTimeSeconds: 90, helperOnly: true }, ['IPv6', 'IPv4']]);
  const { peers } = peersForNode([r.peer], undefined, new Map());
  const rendered = renderPeer(peers[0]!, { nextHops: { IPv4: '10.0.0.11' } });
  // Helper only by default: the router keeps no stale routes of this node when its session drops.
  assert.deepEqual(rendered.graceful_restart, { enabled: true, restart_time: 90, helper_only: true });
  const kept = peerFromObject(obj('gr-keep', { address: '10.0.0.5', asn: 64513, gracefulRestart: { enabled: true, preserveForwarding: true } }));
  assert.ok('peer' in kept, JSON.stringify(kept));
  assert.deepEqual(renderPeer(peersForNode([kept.peer], undefined, new Map()).peers[0]!, { nextHops: { IPv4: '10.0.0.11' } }).graceful_restart, { enabled: true, restart_time: 120, helper_only: false });
  assert.deepEqual(rendered.afi_safis?.map((a) => a.config.family.afi), ['AFI_IP6', 'AFI_IP']);

  const defaults = peerFromObject(obj('gr-default', { address: '10.0.0.3', asn: 64513, gracefulRestart: { enabled: true } }));
  assert.deepEqual('peer' in defaults && defaults.peer.gracefulRestart, { restartTimeSeconds: 120, helperOnly: true });
  const off = peerFromObject(obj('gr-off', { address: '10.0.0.4', asn: 64513, gracefulRestart: { enabled: false, restartTimeSeconds: 90 } }));
  assert.ok('peer' in off && off.peer.gracefulRestart === undefined && off.peer.families === undefined);
  const bad = peerFromObject(obj('bad-family', { address: '10.0.0.5', asn: 64513, families: ['l2vpn-evpn'] }));
  assert.deepEqual(bad, { problem: 'spec.families[0]: "l2vpn-evpn" is not ipv4-unicast or ipv6-unicast' });
});
