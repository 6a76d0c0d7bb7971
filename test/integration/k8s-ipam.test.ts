/**
 * The IP allocation controller on a real kube-apiserver + etcd, running as the bgpvs
 * ServiceAccount bound to daemonset/rbac.yaml (not as admin).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { IpamController } from '../../src/agent/ipam-controller.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { KubeApi } from '../rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';
import { ensureNamespace, eventsFor, ipsOf, lbService, poolApi, startCluster, waitIps } from '../rig/k8s-helpers.js';

let api: KubeApi;
let admin: KubeConfig;
let agent: KubeConfig;
let core: CoreV1Api;
let ctrl: IpamController;
const ns = 'ipam';

before(async () => {
  ({ api, admin } = await startCluster());
  agent = await api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false });
  core = admin.makeApiClient(CoreV1Api);
  await ensureNamespace(core, ns);
  await ensureNamespace(core, 'team-a', { team: 'a' });
  const pools = poolApi(admin);
  await pools.create('main', { cidrs: ['192.0.2.0/29'], serviceAllocation: { priority: 10 } });
  await pools.create('v6', { cidrs: ['2001:db8::/126'], serviceAllocation: { priority: 20 } });
  await pools.create('team', { ranges: [{ start: '198.51.100.10', end: '198.51.100.11' }], serviceAllocation: { priority: 1, namespaceSelector: { matchLabels: { team: 'a' } } } });
  await pools.create('manual', { cidrs: ['203.0.113.0/30'], autoAssign: false });
  await pools.create('tiny', { ranges: [{ start: '203.0.113.100', end: '203.0.113.100' }], autoAssign: false });
  ctrl = new IpamController({
    kc: agent,
    logger: silentLogger(),
    identity: 'node-a',
    config: { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true },
    lease: { durationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
  });
  await ctrl.start();
  await waitFor('leader', () => (ctrl.isLeader ? true : undefined), { timeoutMs: 10_000 });
});

after(async () => {
  await ctrl?.stop();
  await api?.stop();
});

describe('IPAM controller on a real API server (as the bgpvs ServiceAccount)', () => {
  it('runs without admin rights: the agent token cannot list Secrets or write Services', async () => {
    const a = agent.makeApiClient(CoreV1Api);
    await assert.rejects(a.listSecretForAllNamespaces(), (e: unknown) => e instanceof ApiException && e.code === 403);
    await assert.rejects(a.createNamespacedService({ namespace: ns, body: lbService(ns, 'nope') }), (e: unknown) => e instanceof ApiException && e.code === 403);
  });

  it('assigns the lowest free address of the preferred pool, fast (time-to-IP measured)', async () => {
    const times: number[] = [];
    for (const name of ['web-0', 'web-1', 'web-2']) {
      const t0 = performance.now();
      await core.createNamespacedService({ namespace: ns, body: lbService(ns, name) });
      await waitIps(core, ns, name);
      times.push(performance.now() - t0);
    }
    const got = await Promise.all(['web-0', 'web-1', 'web-2'].map(async (n) => ipsOf(await core.readNamespacedService({ namespace: ns, name: n }))));
    assert.deepEqual(got, [['192.0.2.0'], ['192.0.2.1'], ['192.0.2.2']]);
    console.log(`# time-to-IP ms: ${times.map((t) => t.toFixed(0)).join(', ')}`);
    for (const t of times) assert.ok(t < 1_000, `time to IP ${t} ms ≥ 1 s`);
    const ev = await waitFor('IPAllocated event', async () => (await eventsFor(core, ns, 'web-0')).find((e) => e.reason === 'IPAllocated'));
    assert.equal(ev.type, 'Normal');
    assert.match(ev.message ?? '', /192\.0\.2\.0 from pool main/);
  });

  it('takes the pool a namespace selector and priority pick', async () => {
    await core.createNamespacedService({ namespace: 'team-a', body: lbService('team-a', 'svc') });
    assert.deepEqual(await waitIps(core, 'team-a', 'svc'), ['198.51.100.10']);
  });

  it('honours the pool annotation, spec.loadBalancerIP and the dual-stack annotation', async () => {
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'by-pool', { annotations: { 'bgpvs.io/address-pool': 'manual' } }) });
    assert.deepEqual(await waitIps(core, ns, 'by-pool'), ['203.0.113.0']);
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'asked', { lbIP: '192.0.2.6' }) });
    assert.deepEqual(await waitIps(core, ns, 'asked'), ['192.0.2.6']);
    await core.createNamespacedService({
      namespace: ns,
      body: lbService(ns, 'dual', { families: ['IPv4', 'IPv6'], annotations: { 'bgpvs.io/loadBalancerIPs': '192.0.2.5,2001:db8::3' } }),
    });
    assert.deepEqual(await waitIps(core, ns, 'dual', (ips) => ips.length === 2), ['192.0.2.5', '2001:db8::3']);
  });

  it('a requested address in use: no IP, a Warning Event with the reason; fixed when the holder goes', async () => {
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'thief', { lbIP: '192.0.2.6' }) });
    const ev = await waitFor('Warning event', async () => (await eventsFor(core, ns, 'thief')).find((e) => e.reason === 'requestedIPInUse'));
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', /192\.0\.2\.6 is in use by ipam\/asked/);
    assert.deepEqual(ipsOf(await core.readNamespacedService({ namespace: ns, name: 'thief' })), []);
    await core.deleteNamespacedService({ namespace: ns, name: 'asked' });
    assert.deepEqual(await waitIps(core, ns, 'thief'), ['192.0.2.6']);
  });

  it('invalid requests and unknown pools: Warning with the reason, nothing else disturbed', async () => {
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'bad-ip', { annotations: { 'bgpvs.io/loadBalancerIPs': '192.0.2.999' } }) });
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'outside', { lbIP: '10.1.2.3' }) });
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'no-pool', { annotations: { 'bgpvs.io/address-pool': 'nope' } }) });
    for (const [name, reason] of [['bad-ip', 'invalidRequest'], ['outside', 'requestedIPNotInPool'], ['no-pool', 'noMatchingPool']] as const) {
      const ev = await waitFor(`${reason} event`, async () => (await eventsFor(core, ns, name)).find((e) => e.reason === reason));
      assert.equal(ev.type, 'Warning');
    }
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'after-bad') });
    assert.deepEqual(await waitIps(core, ns, 'after-bad'), ['192.0.2.3']);
  });

  it('shares an address between Services with one sharing key and no port clash', async () => {
    const share = { 'bgpvs.io/allow-shared-ip': 'dns' };
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'dns-tcp', { annotations: share, ports: [[53, 'TCP']] }) });
    const [ip] = await waitIps(core, ns, 'dns-tcp');
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'dns-udp', { annotations: share, ports: [[53, 'UDP']] }) });
    assert.deepEqual(await waitIps(core, ns, 'dns-udp'), [ip]);
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'dns-clash', { annotations: share, ports: [[53, 'UDP']] }) });
    const [other] = await waitIps(core, ns, 'dns-clash');
    assert.notEqual(other, ip);
  });

  it('exhaustion: Warning poolExhausted; pool status shows used/free; delete releases and the waiter gets it', async () => {
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'tiny-1', { annotations: { 'bgpvs.io/address-pool': 'tiny' } }) });
    assert.deepEqual(await waitIps(core, ns, 'tiny-1'), ['203.0.113.100']);
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'tiny-2', { annotations: { 'bgpvs.io/address-pool': 'tiny' } }) });
    const ev = await waitFor('poolExhausted', async () => (await eventsFor(core, ns, 'tiny-2')).find((e) => e.reason === 'poolExhausted'));
    assert.equal(ev.type, 'Warning');
    const st = await waitFor('pool status', async () => {
      const p = await poolApi(admin).get('tiny');
      return p.status?.used === 1 ? p.status : undefined;
    });
    assert.equal(st.free, '0');
    assert.equal(st.conditions?.[0]?.type, 'Ready');
    await core.deleteNamespacedService({ namespace: ns, name: 'tiny-1' });
    assert.deepEqual(await waitIps(core, ns, 'tiny-2'), ['203.0.113.100']);
  });

  it('type change away from LoadBalancer releases the address', async () => {
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'flip', { annotations: { 'bgpvs.io/address-pool': 'manual' } }) });
    const [ip] = await waitIps(core, ns, 'flip');
    const svc = await core.readNamespacedService({ namespace: ns, name: 'flip' });
    await core.replaceNamespacedService({ namespace: ns, name: 'flip', body: { ...svc, spec: { ...svc.spec, type: 'ClusterIP', allocateLoadBalancerNodePorts: undefined } } });
    await waitIps(core, ns, 'flip', (ips) => ips.length === 0);
    await core.createNamespacedService({ namespace: ns, body: lbService(ns, 'flip-2', { annotations: { 'bgpvs.io/address-pool': 'manual' } }) });
    assert.deepEqual(await waitIps(core, ns, 'flip-2'), [ip]);
  });

  it('a restarted controller rebuilds from statuses and changes nothing', async () => {
    const before = (await core.listNamespacedService({ namespace: ns })).items.map((s) => `${s.metadata?.name}=${ipsOf(s).join(',')}`).sort();
    await ctrl.stop();
    ctrl = new IpamController({ kc: agent, logger: silentLogger(), identity: 'node-b', config: { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true }, lease: { durationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 } });
    await ctrl.start();
    await waitFor('leader', () => (ctrl.isLeader && ctrl.result ? true : undefined), { timeoutMs: 10_000 });
    await ctrl.idle();
    assert.deepEqual(ctrl.result?.services.filter((s) => s.changed).map((s) => s.key), []);
    const after = (await core.listNamespacedService({ namespace: ns })).items.map((s) => `${s.metadata?.name}=${ipsOf(s).join(',')}`).sort();
    assert.deepEqual(after, before);
  });
});
