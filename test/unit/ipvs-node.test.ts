/**
 * The IPVS data plane as the agent drives it: the pure wiring choices (ownership, per-real
 * forwarding, pod DSR plan, node sysctls, config, factory) and IpvsNodeDataPlane against a
 * small stateful fake of ip/sysctl/nsenter/ipvsadm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { RunOptions, Runner } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { loadConfig } from '../../src/config/config.js';
import { buildNodeDesiredState } from '../../src/desired/builder.js';
import { modelConfig } from '../../src/desired/config.js';
import { createDataPlane, podResolverFor } from '../../src/dataplane/factory.js';
import { diffIpvs } from '../../src/dataplane/ipvs/diff.js';
import { renderIpvsBatch } from '../../src/dataplane/ipvs/render.js';
import { parseIpvsadmSave } from '../../src/dataplane/ipvs/parse.js';
import { IpvsNodeDataPlane } from '../../src/dataplane/ipvs/node-dataplane.js';
import { ipvsVirtualServers, nodeDsrSysctls, parseRouteGetDev, planPodDsr, vipOwnership } from '../../src/dataplane/ipvs/node-plan.js';
import { CrictlNetnsResolver, FileNetnsResolver, parseNetnsMap } from '../../src/dataplane/vip/pod-dsr.js';
import { dataplaneArgs } from '../../lab/agents.js';
import type { ForwardingMethod, RealServer, VirtualServer } from '../../src/model/types.js';
import { applyIpvsRestore } from './ipvs-fake.js';

const rs = (address: string, nodeName?: string, pod?: string, weight = 1): RealServer => ({ address, port: 80, weight, ...(nodeName ? { nodeName } : {}), ...(pod ? { pod } : {}) });
const vs = (vip: string, forwarding: ForwardingMethod, realServers: RealServer[], extra: Partial<VirtualServer> = {}): VirtualServer => ({
  vip, port: 80, protocol: 'TCP', family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0, forwarding, realServers, services: ['demo/web'], ...extra,
});

test('vipOwnership: pool CIDRs, plus the extra addresses; everything else is foreign', () => {
  const own = vipOwnership(['10.200.0.0/24', '2001:db8:1::/64'], ['192.0.2.7', '2001:DB8::0007']);
  for (const ip of ['10.200.0.1', '10.200.0.255', '2001:db8:1::5', '192.0.2.7', '2001:db8::7']) assert.equal(own.has(ip), true, ip);
  for (const ip of ['10.200.1.1', '10.96.0.10', '192.0.2.8', 'junk', '']) assert.equal(own.has(ip), false, ip);
  assert.equal(vipOwnership([], []).has('10.200.0.1'), false, 'no pools, nothing extra: owns nothing');
});

test('ipvsVirtualServers: DR reaches pods on other nodes by tunnel; everything else is left as it is', () => {
  const dr = vs('10.200.0.1', 'dr', [rs('10.1.1.10', 'node1'), rs('10.1.2.10', 'node2'), rs('10.9.9.9')]);
  const tun = vs('10.200.0.2', 'tunnel', [rs('10.1.2.10', 'node2')]);
  const nat = vs('10.200.0.3', 'nat', [rs('10.1.2.10', 'node2')]);
  const localOnly = vs('10.200.0.4', 'dr', [rs('10.1.1.10', 'node1')]);
  const out = ipvsVirtualServers([dr, tun, nat, localOnly], 'node1');
  assert.deepEqual(out[0]!.realServers.map((r) => [r.address, (r as { forwarding?: string }).forwarding]), [['10.1.1.10', undefined], ['10.1.2.10', 'tunnel'], ['10.9.9.9', undefined]]);
  assert.equal(out[1], tun);
  assert.equal(out[2], nat);
  assert.equal(out[3], localOnly);
});

test('diffIpvs: per-real forwarding is rendered and, read back, converges', () => {
  const desired = ipvsVirtualServers([vs('10.200.0.1', 'dr', [rs('10.1.1.10', 'node1'), rs('10.1.2.10', 'node2')])], 'node1');
  const base = { managedVips: vipOwnership(['10.200.0.0/24'], []), nowMs: 0, graceMs: 30_000 };
  const first = diffIpvs({ ...base, desired, actual: { services: [], foreign: [] } });
  const batch = renderIpvsBatch(first.ops);
  assert.equal(batch, '-A -t 10.200.0.1:80 -s mh\n-a -t 10.200.0.1:80 -r 10.1.1.10:80 -g -w 1\n-a -t 10.200.0.1:80 -r 10.1.2.10:80 -i -w 1\n');
  const readBack = parseIpvsadmSave(batch.replace(/^-A/gm, '-A').split('\n').filter(Boolean).join('\n'));
  assert.deepEqual(diffIpvs({ ...base, desired, actual: readBack }).ops, []);
  // The same node later holds the remote pod by DR (e.g. an older agent): edited to tunnel.
  const wrong = parseIpvsadmSave('-A -t 10.200.0.1:80 -s mh\n-a -t 10.200.0.1:80 -r 10.1.1.10:80 -g -w 1\n-a -t 10.200.0.1:80 -r 10.1.2.10:80 -g -w 1\n');
  assert.equal(renderIpvsBatch(diffIpvs({ ...base, desired, actual: wrong }).ops), '-e -t 10.200.0.1:80 -r 10.1.2.10:80 -i -w 1\n');
});

test('planPodDsr: local pods only; tunnel → tunl0, DR → lo and tunl0; NAT, IPv6 and other nodes left out', () => {
  const plan = planPodDsr(
    [
      vs('10.200.0.1', 'tunnel', [rs('10.1.1.10', 'node1', 'demo/a'), rs('10.1.2.10', 'node2', 'demo/c')]),
      vs('10.200.0.2', 'dr', [rs('10.1.1.10', 'node1', 'demo/a'), rs('10.1.1.11', 'node1', 'demo/b', 0)]),
      vs('10.200.0.3', 'nat', [rs('10.1.1.10', 'node1', 'demo/a')]),
      vs('2001:db8::1', 'tunnel', [rs('fd00::10', 'node1', 'demo/a')], { family: 'IPv6' }),
      vs('10.200.0.4', 'tunnel', [rs('10.1.1.12', 'node1')]),
    ],
    'node1',
  );
  assert.deepEqual(Object.fromEntries(plan.pods), {
    'demo/a': { tunnel: ['10.200.0.1', '10.200.0.2'], dr: ['10.200.0.2'], addresses: ['10.1.1.10'] },
    'demo/b': { tunnel: ['10.200.0.2'], dr: ['10.200.0.2'], addresses: ['10.1.1.11'] },
  });
  assert.deepEqual(plan.unresolved, [{ vip: '10.200.0.4', address: '10.1.1.12' }]);
});

test('the model carries the Pod of each endpoint (targetRef) to the real servers', () => {
  const svc: V1Service = {
    metadata: { name: 'web', namespace: 'demo' },
    spec: { type: 'LoadBalancer', ports: [{ name: 'p', port: 80, targetPort: 80, protocol: 'TCP' }], externalTrafficPolicy: 'Cluster' },
    status: { loadBalancer: { ingress: [{ ip: '10.200.0.1' }] } },
  };
  const slice: V1EndpointSlice = {
    metadata: { name: 'web-1', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'p', port: 80, protocol: 'TCP' }],
    endpoints: [
      { addresses: ['10.1.1.10'], nodeName: 'node1', targetRef: { kind: 'Pod', namespace: 'demo', name: 'a' }, conditions: { ready: true } },
      { addresses: ['10.1.1.11'], nodeName: 'node1', targetRef: { kind: 'Pod', name: 'b' }, conditions: { ready: true } },
      { addresses: ['10.1.1.12'], nodeName: 'node1', conditions: { ready: true } },
    ],
  };
  const d = buildNodeDesiredState({ services: [svc], endpointSlices: [slice], nodes: [] }, 'node1', modelConfig({ pools: [] }));
  assert.deepEqual(d.virtualServers[0]!.realServers.map((r) => r.pod), ['demo/a', 'demo/b', undefined]);
});

test('nodeDsrSysctls and parseRouteGetDev: accept_local per interface toward a local DSR pod', () => {
  assert.deepEqual(nodeDsrSysctls(['cbr0', 'cbr0', 'eth0.100', 'bad name;']), { 'net.ipv4.conf.cbr0.accept_local': '1', 'net.ipv4.conf.eth0/100.accept_local': '1' });
  assert.deepEqual(nodeDsrSysctls([]), {});
  assert.equal(parseRouteGetDev('[{"dst":"10.1.1.10","dev":"cbr0","prefsrc":"10.1.1.1","flags":[],"uid":0,"cache":[]}]\n'), 'cbr0');
  assert.equal(parseRouteGetDev(''), undefined);
});

test('pod netns map: parsed strictly; the file resolver reads it on every call, a missing file is no pods', async () => {
  assert.deepEqual([...parseNetnsMap('{"demo/a":"bv1-lab-node1p1","demo/b":"/proc/7/ns/net"}')], [['demo/a', 'bv1-lab-node1p1'], ['demo/b', '/proc/7/ns/net']]);
  assert.throws(() => parseNetnsMap('[]'), /JSON object/);
  assert.throws(() => parseNetnsMap('{"nopod":"x"}'), /bad entry/);
  const file: { text?: string } = {};
  const r = new FileNetnsResolver('/x.json', async () => {
    if (file.text === undefined) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    return file.text;
  });
  assert.deepEqual(await r.list(), []);
  file.text = '{"demo/a":"ns-a","demo/b":"/proc/7/ns/net"}';
  assert.equal(await r.netnsPath('demo/a'), '/run/netns/ns-a');
  assert.equal(await r.netnsPath('demo/b'), '/proc/7/ns/net');
  assert.equal(await r.netnsPath('demo/c'), undefined);
  assert.deepEqual(await r.list(), ['demo/a', 'demo/b']);
});

test('config --pod-netns and the factory: crictl by default, map:PATH, none; IPVS or nft behind one interface', () => {
  const base = ['--node-name=n1', '--bgp.asn=65001'];
  assert.deepEqual(loadConfig({ argv: base, env: {} }).podNetns, { kind: 'crictl' });
  assert.deepEqual(loadConfig({ argv: [...base, '--pod-netns=map:/run/lab/pods.json'], env: {} }).podNetns, { kind: 'map', path: '/run/lab/pods.json' });
  assert.deepEqual(loadConfig({ argv: base, env: { BGPVS_POD_NETNS: 'none' } }).podNetns, { kind: 'none' });
  assert.throws(() => loadConfig({ argv: [...base, '--pod-netns=docker'], env: {} }), /--pod-netns/);
  const run: Runner = async () => assert.fail('the factory must not run anything');
  assert.equal(podResolverFor({ kind: 'none' }, run), undefined);
  assert.ok(podResolverFor({ kind: 'crictl' }, run) instanceof CrictlNetnsResolver);
  assert.ok(podResolverFor({ kind: 'map', path: '/p' }, run) instanceof FileNetnsResolver);
  const deps = { run, logger: silentLogger(), nodeName: 'n1', poolCidrs: () => ['10.200.0.0/24'], podNetns: { kind: 'none' } as const };
  assert.equal(createDataPlane('ipvs', deps).name, 'ipvs');
  assert.ok(createDataPlane('ipvs', deps) instanceof IpvsNodeDataPlane);
  assert.equal(createDataPlane('nft', deps).name, 'nft');
  assert.deepEqual(dataplaneArgs('ipvs', '/lab/pod-netns-node1.json'), ['--dataplane=ipvs', '--pod-netns=map:/lab/pod-netns-node1.json']);
  assert.deepEqual(dataplaneArgs('nft', '/x'), ['--dataplane=nft']);
});

/**
 * A node as ip/sysctl/nsenter/ipvsadm see it: addresses per (netns path | 'node', device),
 * sysctls, routes to pods, the IPVS table as `ipvsadm -S` lines. Refuses what the real tools
 * would refuse (adding an address twice, deleting one that is absent, -a of an existing real).
 */
function fakeNode(opts: { ipvs: string[]; pods: Record<string, string> }) {
  const links = new Map<string, Map<string, { up: boolean; addrs: string[] }>>();
  const ns = (p: string) => {
    let m = links.get(p);
    if (!m) links.set(p, (m = new Map([['lo', { up: true, addrs: ['127.0.0.1'] }], ['eth0', { up: true, addrs: [] }]])));
    return m;
  };
  ns('node');
  for (const p of Object.values(opts.pods)) ns(p);
  const sysctl = new Map<string, string>();
  const lines = [...opts.ipvs];
  const calls: string[] = [];
  const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0 });
  const fail = () => ({ stdout: '', stderr: 'no such device', exitCode: 1 });
  const ipJson = (m: Map<string, { up: boolean; addrs: string[] }>, only?: string) =>
    JSON.stringify(
      [...m].filter(([n]) => !only || n === only).map(([ifname, l]) => ({
        ifname,
        flags: l.up ? ['UP'] : [],
        addr_info: l.addrs.map((a) => ({ family: 'inet', local: a, prefixlen: a === '127.0.0.1' ? 8 : 32 })),
      })),
    );
  const exec = (where: string, argv: readonly string[], o: RunOptions) => {
    const m = ns(where);
    const a = argv.join(' ');
    const key = (k: string) => `${where}:${k}`;
    if (argv[0] === 'sysctl' && argv[1] === '-n') return ok(argv.slice(2).map((k) => `${sysctl.get(key(k)) ?? (k.endsWith('rp_filter') ? '2' : '0')}\n`).join(''));
    if (argv[0] === 'sysctl' && argv[1] === '-q') {
      for (const kv of argv.slice(3)) sysctl.set(key(kv.split('=')[0]!), kv.split('=')[1]!);
      return ok();
    }
    let r: RegExpExecArray | null;
    if (a === 'ip -j addr show') return ok(ipJson(m));
    if ((r = /^ip -j addr show dev (\S+)$/.exec(a))) return m.has(r[1]!) ? ok(ipJson(m, r[1])) : fail();
    if ((r = /^ip link show dev (\S+)$/.exec(a))) return m.has(r[1]!) ? ok() : fail();
    if ((r = /^ip link add (?:name )?(\S+) type (dummy|ipip)$/.exec(a))) {
      assert.ok(!m.has(r[1]!), `exists: ${a}`);
      m.set(r[1]!, { up: false, addrs: [] });
      return ok();
    }
    if ((r = /^ip link set (\S+) up$/.exec(a))) {
      m.get(r[1]!)!.up = true;
      return ok();
    }
    if ((r = /^ip addr (add|del) (\S+)\/32 dev (\S+)$/.exec(a))) {
      const l = m.get(r[3]!)!;
      const has = l.addrs.includes(r[2]!);
      assert.equal(has, r[1] === 'del', `${where}: ${a}`);
      l.addrs = r[1] === 'add' ? [...l.addrs, r[2]!] : l.addrs.filter((x) => x !== r![2]);
      return ok();
    }
    if ((r = /^ip -j route get (\S+)$/.exec(a))) return ok(JSON.stringify([{ dst: r[1], dev: 'cbr0' }]));
    if (a === 'ipvsadm -Sn') return ok(lines.map((l) => `${l}\n`).join(''));
    if (a === 'ipvsadm -Ln') return ok('');
    if (a === 'ipvsadm -R') {
      applyIpvsRestore(lines, o.input ?? '');
      return ok();
    }
    throw new Error(`fake node: unexpected ${where}: ${a}`);
  };
  const run: Runner = async (argv, o = {}) => {
    calls.push(argv.join(' '));
    if (argv[0] === 'nsenter') return exec(argv[1]!.slice('--net='.length), argv.slice(2), o);
    return exec('node', argv, o);
  };
  const resolver = {
    netnsPath: async (pod: string) => opts.pods[pod],
    list: async () => Object.keys(opts.pods),
  };
  return { run, links, sysctl, lines, calls, resolver };
}

test('IpvsNodeDataPlane: VIPs, pod DSR, accept_local and IPVS in one pass; second pass a no-op; kube-proxy survives; removal cleans up', async () => {
  const kubeProxy = ['-A -t 10.96.0.10:53 -s rr', '-a -t 10.96.0.10:53 -r 10.1.1.20:53 -m -w 1'];
  const host = fakeNode({ ipvs: kubeProxy, pods: { 'demo/a': '/run/netns/a', 'demo/b': '/run/netns/b', 'demo/idle': '/run/netns/idle' } });
  const dp = new IpvsNodeDataPlane({ run: host.run, logger: silentLogger(), nodeName: 'node1', poolCidrs: ['10.200.0.0/24'], podResolver: host.resolver });
  const web = vs('10.200.0.1', 'tunnel', [rs('10.1.1.10', 'node1', 'demo/a'), rs('10.1.2.10', 'node2', 'demo/c')]);
  const api = vs('10.200.0.2', 'dr', [rs('10.1.1.11', 'node1', 'demo/b')]);
  const ext = vs('192.0.2.50', 'nat', [rs('10.1.1.10', 'node1', 'demo/a')], { port: 8080 });

  const r1 = await dp.sync([web, api, ext]);
  assert.deepEqual(r1.skipped, []);
  assert.deepEqual(host.links.get('node')!.get('bgpvs0'), { up: true, addrs: ['10.200.0.1', '10.200.0.2', '192.0.2.50'] });
  assert.deepEqual(host.links.get('/run/netns/a')!.get('tunl0'), { up: true, addrs: ['10.200.0.1'] });
  assert.deepEqual(host.links.get('/run/netns/b')!.get('tunl0'), { up: true, addrs: ['10.200.0.2'] });
  assert.deepEqual(host.links.get('/run/netns/b')!.get('lo')!.addrs, ['127.0.0.1', '10.200.0.2']);
  assert.equal(host.links.get('/run/netns/idle')!.has('tunl0'), false, 'a pod with nothing wanted is not touched');
  assert.equal(host.sysctl.get('/run/netns/a:net.ipv4.conf.tunl0.rp_filter'), '0');
  assert.equal(host.sysctl.get('/run/netns/b:net.ipv4.conf.all.arp_ignore'), '1');
  assert.deepEqual(r1.sysctls.changed, {
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.conntrack': '1',
    'net.ipv4.vs.sloppy_tcp': '1',
    'net.ipv4.conf.cbr0.accept_local': '1',
    'net.ipv4.conf.all.arp_ignore': '1',
    'net.ipv4.conf.all.arp_announce': '2',
  });
  assert.deepEqual([...host.lines].sort(), [
    ...kubeProxy,
    '-A -t 10.200.0.1:80 -s mh',
    '-A -t 10.200.0.2:80 -s mh',
    '-A -t 192.0.2.50:8080 -s mh',
    '-a -t 10.200.0.1:80 -r 10.1.1.10:80 -i -w 1',
    '-a -t 10.200.0.1:80 -r 10.1.2.10:80 -i -w 1',
    '-a -t 10.200.0.2:80 -r 10.1.1.11:80 -g -w 1',
    '-a -t 192.0.2.50:8080 -r 10.1.1.10:80 -m -w 1',
  ].sort());

  const writes = () => host.calls.filter((c) => / -w |ip addr (add|del)|ip link (add|set)|ipvsadm -R/.test(c)).length;
  const before = writes();
  const r2 = await dp.sync([web, api, ext]);
  assert.deepEqual([r2.mode, r2.operations, r2.pods], ['noop', 0, []]);
  assert.equal(writes(), before, 'second pass changes nothing');

  // The external IP's Service and the DR Service go: IPVS services, node VIPs and pod VIPs go
  // with them (the external IP, outside every pool, is still ours: it is on bgpvs0).
  const r3 = await dp.sync([web]);
  assert.deepEqual(host.links.get('node')!.get('bgpvs0')!.addrs, ['10.200.0.1']);
  assert.deepEqual([...host.lines].sort(), [...kubeProxy, '-A -t 10.200.0.1:80 -s mh', '-a -t 10.200.0.1:80 -r 10.1.1.10:80 -i -w 1', '-a -t 10.200.0.1:80 -r 10.1.2.10:80 -i -w 1'].sort());
  assert.deepEqual(host.links.get('/run/netns/b')!.get('lo')!.addrs, ['127.0.0.1']);
  assert.deepEqual(host.links.get('/run/netns/b')!.get('tunl0')!.addrs, []);
  assert.deepEqual(r3.pods.map((p) => [p.pod, p.add, p.remove]), [['demo/b', [], ['10.200.0.2']], ['demo/b', [], ['10.200.0.2']]]);
  assert.deepEqual((await dp.list()).map((v) => v.vip), ['10.200.0.1']);
});

test('IpvsNodeDataPlane: a wanted pod the resolver cannot find is reported skipped, and the pass still programs the rest', async () => {
  const host = fakeNode({ ipvs: [], pods: {} });
  const dp = new IpvsNodeDataPlane({ run: host.run, logger: silentLogger(), nodeName: 'node1', poolCidrs: ['10.200.0.0/24'], podResolver: host.resolver });
  const r = await dp.sync([vs('10.200.0.1', 'tunnel', [rs('10.1.1.10', 'node1', 'demo/gone')])]);
  assert.deepEqual(r.skipped, [{ vip: '10.200.0.1', port: 80, protocol: 'TCP', reason: 'podNetnsNotFound: demo/gone' }]);
  assert.deepEqual(host.links.get('node')!.get('bgpvs0')!.addrs, ['10.200.0.1']);
});
