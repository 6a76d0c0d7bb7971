import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab } from '../rig/netns.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import type { VirtualServer } from '../../src/model/types.js';

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, nft)';
const VIP = '10.100.0.10';

test('nft DR: replies bypass the node; the same flow reaches the same backend through either node', { skip }, async (t) => {
  const lab = await NetLab.create('nftdr');
  t.after(() => lab.destroy());
  for (const n of ['client', 'router', 'sw', 'node1', 'node2', 'b1', 'b2']) await lab.addNs(n, { forwarding: n === 'router' });
  await lab.sysctl('client', 'net.core.txrehash', '0').catch(() => undefined);
  // no TIME_WAIT in the client, so a flow's exact 4-tuple can be used again through node2
  await lab.sysctl('client', 'net.ipv4.tcp_max_tw_buckets', '0');
  await lab.link('client', 'eth0', 'router', 'eth0');
  await lab.addr('client', 'eth0', '10.1.0.2/24');
  await lab.addr('router', 'eth0', '10.1.0.1/24');
  await lab.route('client', 'default', ['via', '10.1.0.1']);
  const onLan: [string, string][] = [['router', '10.0.0.1'], ['node1', '10.0.0.11'], ['node2', '10.0.0.12'], ['b1', '10.0.0.21'], ['b2', '10.0.0.22']];
  for (const [i, [ns, ip]] of onLan.entries()) {
    const ifname = ns === 'router' ? 'eth1' : 'eth0';
    await lab.link(ns, ifname, 'sw', `p${i}`);
    await lab.addr(ns, ifname, `${ip}/24`);
  }
  await lab.bridge('sw', 'br0', onLan.map((_, i) => `p${i}`));
  const mac = async (ns: string): Promise<string> => {
    const r = await lab.exec(ns, ['cat', '/sys/class/net/eth0/address']);
    return r.stdout.trim();
  };
  for (const b of ['b1', 'b2']) {
    await lab.addr(b, 'lo', `${VIP}/32`);
    for (const k of ['all', 'eth0']) {
      await lab.sysctl(b, `net.ipv4.conf.${k}.arp_ignore`, '1');
      await lab.sysctl(b, `net.ipv4.conf.${k}.arp_announce`, '2');
    }
    await lab.route(b, 'default', ['via', '10.0.0.1']);
    void spawnDaemon(['socat', 'TCP-LISTEN:80,fork,reuseaddr', `SYSTEM:echo ${b}`], { netns: lab.ns(b) });
  }
  const backendMacs = new Map([['10.0.0.21', await mac('b1')], ['10.0.0.22', await mac('b2')]]);
  const desired: VirtualServer[] = [{
    vip: VIP, protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0,
    forwarding: 'dr', services: ['default/web'],
    realServers: [{ address: '10.0.0.21', port: 80, weight: 1 }, { address: '10.0.0.22', port: 80, weight: 1 }],
  }];
  for (const node of ['node1', 'node2']) {
    const deviceMac = await mac(node);
    const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: node, netns: lab.ns(node), buckets: 31, drContext: async () => ({ device: 'eth0', deviceMac, backendMacs }) });
    assert.equal((await dp.sync(desired)).mode, 'full');
    assert.equal((await dp.sync(desired)).mode, 'noop', `${node}: second pass is a no-op`);
    // an observer (not ours) counting reply packets (from the VIP) that reach the node
    await lab.exec(node, ['nft', '-f', '-'], {
      input: 'table netdev obs {\n chain c {\n  type filter hook ingress device "eth0" priority -10; policy accept;\n  ip saddr 10.100.0.10 counter\n }\n}\n',
    });
  }
  const ask = async (port: number): Promise<string> => {
    const r = await lab.exec('client', ['socat', '-T2', '-', `TCP:${VIP}:80,sourceport=${port},reuseaddr`], { input: '', timeoutMs: 5000, allowFailure: true });
    return r.stdout.trim();
  };
  await new Promise((r) => setTimeout(r, 300));
  const ports = Array.from({ length: 12 }, (_, i) => 43000 + i);
  await lab.route('router', `${VIP}/32`, ['via', '10.0.0.11']);
  const via1 = [];
  for (const p of ports) via1.push(await ask(p));
  await lab.route('router', `${VIP}/32`, ['via', '10.0.0.12']);
  const via2 = [];
  for (const p of ports) via2.push(await ask(p + 100));
  // the very same flows (client IP, source port) again, now through node2
  const via2same = [];
  for (const p of ports) via2same.push(await ask(p));
  assert.ok(via1.every((w) => w === 'b1' || w === 'b2'), `answers through node1: ${via1}`);
  assert.deepEqual(new Set([...via1, ...via2]).size, 2, 'both backends serve');
  assert.deepEqual(via2same, via1, 'the same flow (client IP, source port) picks the same backend through node2 as through node1');
  for (const node of ['node1', 'node2']) {
    const c = await lab.exec(node, ['nft', '-j', 'list', 'table', 'netdev', 'obs']);
    const packets = /"packets":\s*(\d+)/.exec(c.stdout)?.[1];
    assert.equal(packets, '0', `${node} saw no reply packets (direct server return)`);
  }
});
