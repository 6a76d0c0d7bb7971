/**
 * externalTrafficPolicy Cluster through the nft data plane with node-level DSR: client →
 * router → entry node → backend on another node. Three nodes on one L2 (node C has no pod),
 * every node running the same tables, as the agents would. The entry node hands the unchanged
 * packet to the backend's node, which DNATs; the backend sees the client's address and the
 * reply goes from the backend's node to the router, not back through the entry node. A TCP
 * connection keeps working when the router moves it to another entry node, and (control) the
 * same move breaks it with masquerade only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { NetLab } from '../rig/netns.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import { clusterContextResolver } from '../../src/dataplane/nft/cluster-dsr.js';
import type { RealServer, VirtualServer } from '../../src/model/types.js';

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, nft)';

const CLIENT = '10.1.0.2';
const ADDR = { nodeA: '10.0.0.11', nodeB: '10.0.0.12', nodeC: '10.0.0.13' } as const;
type NodeName = keyof typeof ADDR;
const A1 = { address: '10.244.1.10', port: 8080, weight: 1, nodeName: 'nodeA' } as const;
const B1 = { address: '10.244.2.10', port: 8080, weight: 1, nodeName: 'nodeB' } as const;

const vs = (vip: string, realServers: RealServer[]): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', services: [`default/${vip}`], realServers,
});
const desired = [
  vs('10.100.0.10', [B1]), // Cluster, endpoint on node B only
  vs('10.100.0.11', [A1]), // Cluster, endpoint on node A only
  vs('10.100.0.12', [A1, B1]), // Cluster, endpoints on both
];

/** A long-lived client connection: one line written, one line read back. */
function connect(lab: NetLab, vip: string, sport: number) {
  const p = spawn('ip', ['netns', 'exec', lab.ns('client'), 'socat', '-', `TCP:${vip}:80,sourceport=${sport},connect-timeout=2`], { stdio: ['pipe', 'pipe', 'ignore'] });
  let buf = '';
  const waiters: (() => void)[] = [];
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  p.on('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  const line = async (ms = 3000): Promise<string | undefined> => {
    const deadline = Date.now() + ms;
    while (!buf.includes('\n')) {
      if (p.exitCode !== null || Date.now() > deadline) return undefined;
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const i = buf.indexOf('\n');
    const l = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return l;
  };
  return {
    line,
    echo: async (text: string): Promise<string | undefined> => {
      if (p.exitCode !== null || !p.stdin.writable) return undefined;
      p.stdin.write(`${text}\n`);
      return line();
    },
    close: () => {
      if (p.exitCode === null) p.kill();
    },
  };
}

test('nft Cluster DSR: the entry node forwards to the backend\'s node; the backend sees the client; replies skip the entry node; moved flows survive', { skip, timeout: 120_000 }, async (t) => {
  const lab = await NetLab.create('nftdsr');
  t.after(() => lab.destroy());
  for (const n of ['client', 'router', 'sw']) await lab.addNs(n, { forwarding: n === 'router' });
  await lab.link('client', 'eth0', 'router', 'eth0');
  await lab.addr('client', 'eth0', `${CLIENT}/24`);
  await lab.addr('router', 'eth0', '10.1.0.1/24');
  await lab.route('client', 'default', ['via', '10.1.0.1']);
  await lab.link('router', 'eth1', 'sw', 'p0');
  await lab.addr('router', 'eth1', '10.0.0.1/24');
  const via = (n: NodeName) => lab.exec('router', ['ip', 'route', 'replace', '10.100.0.0/24', 'via', ADDR[n]]);
  await via('nodeA');
  const pods = { nodeA: { pod: 'a1', net: '10.244.1' }, nodeB: { pod: 'b1', net: '10.244.2' } } as const;
  const names = Object.keys(ADDR) as NodeName[];
  for (const [i, n] of names.entries()) {
    await lab.addNs(n, { forwarding: true });
    await lab.link(n, 'eth0', 'sw', `p${i + 1}`);
    await lab.addr(n, 'eth0', `${ADDR[n]}/24`);
    await lab.route(n, 'default', ['via', '10.0.0.1']);
    // strict reverse-path filtering on the nodes: forwarded packets must still pass it
    await lab.sysctl(n, 'net.ipv4.conf.all.rp_filter', '1');
    await lab.sysctl(n, 'net.ipv4.conf.eth0.rp_filter', '1');
    for (const [m, p] of Object.entries(pods)) if (m !== n) await lab.route(n, `${p.net}.0/24`, ['via', ADDR[m as NodeName]]); // host-gw
  }
  for (const [n, p] of Object.entries(pods) as [NodeName, (typeof pods)[keyof typeof pods]][]) {
    await lab.addNs(p.pod);
    await lab.link(p.pod, 'eth0', n, 'veth0');
    await lab.bridge(n, 'cbr0', ['veth0']);
    await lab.addr(n, 'cbr0', `${p.net}.1/24`);
    await lab.addr(p.pod, 'eth0', `${p.net}.10/24`);
    await lab.route(p.pod, 'default', ['via', `${p.net}.1`]);
    // first line: who answers and whom it sees; then an echo
    void spawnDaemon(['socat', 'TCP4-LISTEN:8080,fork,reuseaddr', `SYSTEM:echo ${p.pod} $SOCAT_PEERADDR; exec cat`], { netns: lab.ns(p.pod) });
  }
  await lab.bridge('sw', 'br0', ['p0', 'p1', 'p2', 'p3']);
  await lab.sysctl('router', 'net.ipv4.conf.all.rp_filter', '1');
  await lab.sysctl('router', 'net.ipv4.conf.eth1.rp_filter', '1');

  // probes: frames to and from the VIPs entering each node's and the router's uplink
  const mac = async (ns: string, dev: string) => (JSON.parse((await lab.exec(ns, ['ip', '-j', 'link', 'show', dev])).stdout) as { address: string }[])[0]!.address;
  const macB = await mac('nodeB', 'eth0');
  for (const n of names) {
    await lab.exec(n, ['nft', '-f', '-'], {
      input: 'table netdev probe {\n  chain in {\n    type filter hook ingress device "eth0" priority -500; policy accept;\n' +
        '    ip daddr 10.100.0.0/24 counter comment "toVip"\n    ip saddr 10.100.0.0/24 counter comment "fromVip"\n  }\n}\n',
    });
  }
  await lab.exec('router', ['nft', '-f', '-'], {
    input: 'table inet probe {\n  chain pre {\n    type filter hook prerouting priority -500; policy accept;\n' +
      `    iifname "eth1" ether saddr ${macB} ip saddr 10.100.0.0/24 counter comment "fromB"\n  }\n}\n`,
  });
  const counter = async (ns: string, family: string, name: string): Promise<number> => {
    const out = (await lab.exec(ns, ['nft', 'list', 'table', family, 'probe'])).stdout;
    const m = new RegExp(`counter packets (\\d+) bytes \\d+ comment "${name}"`).exec(out);
    assert.ok(m, `${ns} counter ${name} in\n${out}`);
    return Number(m[1]);
  };
  const resetCounters = () => Promise.all([...names.map((n) => lab.exec(n, ['nft', 'reset', 'counters', 'table', 'netdev', 'probe'])), lab.exec('router', ['nft', 'reset', 'counters', 'table', 'inet', 'probe'])]);

  const nodeAddresses = new Map(names.map((n) => [n, [ADDR[n]]]));
  const dsrPlanes = names.map((n) => new NftDataPlane({
    run, logger: silentLogger(), nodeName: n, netns: lab.ns(n), buckets: 31,
    clusterContext: clusterContextResolver({ run, netns: lab.ns(n), nodeName: n, nodeAddress: ADDR[n], nodeAddresses: () => nodeAddresses }),
  }));
  for (const dp of dsrPlanes) assert.equal((await dp.sync(desired)).mode, 'full');
  for (const dp of dsrPlanes) assert.equal((await dp.sync(desired)).mode, 'noop', 'second pass is a no-op');
  const tableA = (await lab.exec('nodeA', ['nft', 'list', 'table', 'netdev', 'bgpvs_dr'])).stdout;
  assert.match(tableA, /fwd ip to ip daddr \. meta l4proto \. th dport \. jhash ip saddr \. th sport mod 31 seed 0xb9f5 map @fwd4 device "eth0"/);
  const tableB = (await lab.exec('nodeB', ['nft', 'list', 'map', 'netdev', 'bgpvs_dr', 'fwd4'])).stdout;
  assert.doesNotMatch(tableB, /10\.100\.0\.10 \. tcp \. 80/, 'node B forwards nothing of the service whose only backend it holds (no loop)');
  await new Promise((r) => setTimeout(r, 300));

  const ask = async (vip: string, sport: number): Promise<string> => {
    const c = connect(lab, vip, sport);
    try {
      return (await c.line()) ?? '';
    } finally {
      c.close();
    }
  };

  await resetCounters();
  assert.equal(await ask('10.100.0.10', 40001), `b1 ${CLIENT}`, 'Cluster, backend on node B, entering node A: the backend sees the client');
  assert.ok((await counter('nodeA', 'netdev', 'toVip')) > 0, 'the request entered node A');
  assert.ok((await counter('nodeB', 'netdev', 'toVip')) > 0, 'node A handed it to node B');
  assert.equal(await counter('nodeA', 'netdev', 'fromVip'), 0, 'no reply passed back through node A');
  assert.ok((await counter('router', 'inet', 'fromB')) > 0, 'the replies reached the router straight from node B');
  assert.equal(await ask('10.100.0.11', 40002), `a1 ${CLIENT}`, 'backend local to the entry node');
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) seen.add(await ask('10.100.0.12', 41000 + i));
  assert.deepEqual([...seen].sort(), [`a1 ${CLIENT}`, `b1 ${CLIENT}`], 'both backends, both see the client');

  // moved flows: established through one entry node, continued through another
  const moved = async (vip: string, sport: number, from: NodeName, to: NodeName, pod: string, seenAs: string = CLIENT): Promise<[string | undefined, string | undefined, string | undefined]> => {
    await via(from);
    const c = connect(lab, vip, sport);
    try {
      const first = await c.line();
      assert.equal(first, `${pod} ${seenAs}`);
      const before = await c.echo('before');
      await via(to);
      const after = await c.echo('after');
      const again = await c.echo('again');
      return [before, after, again];
    } finally {
      c.close();
      await via('nodeA');
    }
  };
  await resetCounters();
  assert.deepEqual(await moved('10.100.0.10', 42001, 'nodeA', 'nodeC', 'b1'), ['before', 'after', 'again'], 'A → C, backend on B: the connection survives');
  assert.ok((await counter('nodeC', 'netdev', 'toVip')) > 0, 'the moved flow entered node C');
  assert.deepEqual(await moved('10.100.0.11', 42002, 'nodeA', 'nodeC', 'a1'), ['before', 'after', 'again'], 'A → C, backend on A (local first): survives');
  assert.deepEqual(await moved('10.100.0.10', 42003, 'nodeC', 'nodeB', 'b1'), ['before', 'after', 'again'], 'C → B, onto the backend\'s own node: survives');

  // nodes whose tables disagree (each sees the backend on the other) bounce a packet at most
  // until its TTL runs out, instead of for ever (fwd wraps the TTL at 0)
  const conflict = (n: NodeName) => [...desired, vs('10.100.0.20', [{ ...B1, nodeName: n === 'nodeA' ? 'nodeB' : 'nodeA' }])];
  assert.equal((await dsrPlanes[0]!.sync(conflict('nodeA'))).mode, 'incremental');
  assert.equal((await dsrPlanes[1]!.sync(conflict('nodeB'))).mode, 'incremental');
  await resetCounters();
  await ask('10.100.0.20', 40010);
  await new Promise((r) => setTimeout(r, 500));
  const bounced = await counter('nodeA', 'netdev', 'toVip');
  t.diagnostic(`a SYN of a disagreeing pair entered node A ${bounced} times`);
  assert.ok(bounced > 1 && bounced <= 6 * 32, `bounded ping-pong: ${bounced} frames at node A`);
  for (const dp of dsrPlanes.slice(0, 2)) await dp.sync(desired);

  // control: masquerade only (no Cluster DSR context) — the same move breaks the connection
  const masqPlanes = names.map((n) => new NftDataPlane({ run, logger: silentLogger(), nodeName: n, netns: lab.ns(n), buckets: 31 }));
  for (const dp of masqPlanes) assert.equal((await dp.sync(desired)).mode, 'full');
  assert.equal(await ask('10.100.0.10', 40003), `b1 ${ADDR.nodeA}`, 'masquerade: the backend sees node A');
  const [before, after] = await moved('10.100.0.10', 42004, 'nodeA', 'nodeC', 'b1', ADDR.nodeA);
  assert.equal(before, 'before');
  assert.equal(after, undefined, 'masquerade: the moved connection breaks (the pod knows node A, not node C)');
});
