/**
 * externalTrafficPolicy through the nft data plane, on two nodes behind a router:
 * client → router → node A (which holds the VIP route) → endpoint on node B. Node B's default
 * route goes back to the router, as in a real cluster, so a reply that node A did not SNAT
 * goes from node B straight to the client with the pod's address as source, and fails.
 * Dual stack: the same holds for IPv6 VIPs and endpoints.
 */
import { test } from 'node:test';
import ipaddr from 'ipaddr.js';
import assert from 'node:assert/strict';
import { NetLab } from '../rig/netns.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import type { RealServer, VirtualServer } from '../../src/model/types.js';

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, nft)';

const CLIENT = '10.1.0.2';
const NODE_A = '10.0.0.11';
const A1 = { address: '10.244.1.10', port: 8080, weight: 1, nodeName: 'nodeA' } as const;
const B1 = { address: '10.244.2.10', port: 8080, weight: 1, nodeName: 'nodeB' } as const;
const CLIENT6 = 'fd00:1::2';
const NODE_A6 = 'fd00::11';
const A1_6 = { address: 'fd00:a::10', port: 8080, weight: 1, nodeName: 'nodeA' } as const;
const B1_6 = { address: 'fd00:b::10', port: 8080, weight: 1, nodeName: 'nodeB' } as const;

const vs = (vip: string, realServers: RealServer[]): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: vip.includes(':') ? 'IPv6' : 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', services: [`default/${vip}`], realServers,
});

test('nft NAT: Cluster masquerades only traffic sent to another node; Local keeps the client address', { skip }, async (t) => {
  const lab = await NetLab.create('nftmasq');
  t.after(() => lab.destroy());
  for (const n of ['client', 'router', 'sw']) await lab.addNs(n, { forwarding: n === 'router' });
  await lab.link('client', 'eth0', 'router', 'eth0');
  await lab.addr('client', 'eth0', `${CLIENT}/24`);
  await lab.addr('client', 'eth0', `${CLIENT6}/64`);
  await lab.addr('router', 'eth0', '10.1.0.1/24');
  await lab.addr('router', 'eth0', 'fd00:1::1/64');
  await lab.route('client', 'default', ['via', '10.1.0.1']);
  await lab.route('client', '::/0', ['via', 'fd00:1::1']);
  await lab.link('router', 'eth1', 'sw', 'p0');
  await lab.addr('router', 'eth1', '10.0.0.1/24');
  await lab.addr('router', 'eth1', 'fd00::1/64');
  // node A is the one the router picked for the VIPs (BGP would have put it there)
  await lab.route('router', '10.100.0.0/24', ['via', NODE_A]);
  await lab.route('router', 'fd00:100::/64', ['via', NODE_A6]);
  const nodes = [
    { name: 'nodeA', ip: NODE_A, ip6: NODE_A6, podNet: '10.244.1', podNet6: 'fd00:a', pod: 'a1', peer: '10.0.0.12', peer6: 'fd00::12', peerNet: '10.244.2.0/24', peerNet6: 'fd00:b::/64' },
    { name: 'nodeB', ip: '10.0.0.12', ip6: 'fd00::12', podNet: '10.244.2', podNet6: 'fd00:b', pod: 'b1', peer: NODE_A, peer6: NODE_A6, peerNet: '10.244.1.0/24', peerNet6: 'fd00:a::/64' },
  ];
  for (const [i, n] of nodes.entries()) {
    await lab.addNs(n.name, { forwarding: true });
    await lab.link(n.name, 'eth0', 'sw', `p${i + 1}`);
    await lab.addr(n.name, 'eth0', `${n.ip}/24`);
    await lab.addr(n.name, 'eth0', `${n.ip6}/64`);
    await lab.route(n.name, 'default', ['via', '10.0.0.1']);
    await lab.route(n.name, '::/0', ['via', 'fd00::1']);
    await lab.route(n.name, n.peerNet, ['via', n.peer]); // host-gw pod routes
    await lab.route(n.name, n.peerNet6, ['via', n.peer6]);
    await lab.addNs(n.pod);
    await lab.link(n.pod, 'eth0', n.name, 'veth0');
    await lab.bridge(n.name, 'cbr0', ['veth0']);
    await lab.addr(n.name, 'cbr0', `${n.podNet}.1/24`);
    await lab.addr(n.name, 'cbr0', `${n.podNet6}::1/64`);
    await lab.addr(n.pod, 'eth0', `${n.podNet}.10/24`);
    await lab.addr(n.pod, 'eth0', `${n.podNet6}::10/64`);
    await lab.route(n.pod, 'default', ['via', `${n.podNet}.1`]);
    await lab.route(n.pod, '::/0', ['via', `${n.podNet6}::1`]);
    for (const listen of ['TCP4-LISTEN:8080,fork,reuseaddr', 'TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1']) {
      void spawnDaemon(['socat', listen, `SYSTEM:echo ${n.pod} $SOCAT_PEERADDR`], { netns: lab.ns(n.pod) });
    }
  }
  await lab.bridge('sw', 'br0', ['p0', 'p1', 'p2']);

  const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: 'nodeA', netns: lab.ns('nodeA'), buckets: 31 });
  const desired = [
    vs('10.100.0.10', [B1]), // Cluster, endpoint on node B only
    vs('10.100.0.11', [A1]), // Local: the builder gives it this node's endpoints only
    vs('10.100.0.12', [A1, B1]), // Cluster, endpoints on both nodes
    // control: node B's endpoint wrongly reported on node A, so nothing SNATs it (the old behaviour)
    vs('10.100.0.13', [{ ...B1, nodeName: 'nodeA' }]),
    vs('fd00:100::10', [B1_6]), // IPv6, Cluster, endpoint on node B
    vs('fd00:100::11', [A1_6]), // IPv6, Local
  ];
  assert.equal((await dp.sync(desired)).mode, 'full');
  assert.deepEqual((await dp.sync(desired)).mode, 'noop', 'second pass is a no-op');

  const ask = async (vip: string, sport: number): Promise<string> => {
    const to = vip.includes(':') ? `TCP6:[${vip}]:80` : `TCP:${vip}:80`;
    const r = await lab.exec('client', ['socat', '-T2', '-', `${to},sourceport=${sport},connect-timeout=2`], { input: '', timeoutMs: 5000, allowFailure: true });
    const [who, addr] = r.stdout.trim().replace(/[[\]]/g, '').split(' ');
    // socat writes IPv6 peers expanded
    return addr === undefined ? (who ?? '') : `${who} ${addr.includes(':') ? ipaddr.parse(addr).toString() : addr}`;
  };
  await new Promise((r) => setTimeout(r, 300));

  assert.equal(await ask('10.100.0.10', 40001), `b1 ${NODE_A}`, 'Cluster, remote endpoint: answered, and the backend sees node A');
  assert.equal(await ask('10.100.0.11', 40002), `a1 ${CLIENT}`, 'Local: the backend sees the client');
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) seen.add(await ask('10.100.0.12', 41000 + i));
  assert.deepEqual([...seen].sort(), [`a1 ${CLIENT}`, `b1 ${NODE_A}`], 'Cluster, both nodes: SNAT only towards node B');
  assert.equal(await ask('10.100.0.13', 40003), '', 'control: without SNAT the reply bypasses node A and the connection fails');
  assert.equal(await ask('fd00:100::10', 40006), `b1 ${NODE_A6}`, 'IPv6 Cluster, remote endpoint: the backend sees node A');
  assert.equal(await ask('fd00:100::11', 40007), `a1 ${CLIENT6}`, 'IPv6 Local: the backend sees the client');

  // the endpoint is now reported on its real node: the virtual server's chain gains the mark
  desired[3] = vs('10.100.0.13', [B1]);
  const fix = await dp.sync(desired);
  assert.notEqual(fix.mode, 'noop');
  assert.equal((await dp.sync(desired)).mode, 'noop');
  assert.equal(await ask('10.100.0.13', 40004), `b1 ${NODE_A}`);

  // node B's endpoint leaves the Cluster service with both: no remote endpoint left for it,
  // node B's address stays in the remote set for the others
  desired[2] = vs('10.100.0.12', [A1]);
  await dp.sync(desired);
  assert.equal((await dp.sync(desired)).mode, 'noop');
  assert.equal(await ask('10.100.0.12', 41100), `a1 ${CLIENT}`);
  assert.equal(await ask('10.100.0.10', 40005), `b1 ${NODE_A}`);
});
