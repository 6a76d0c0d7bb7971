/**
 * Tenants who may create Services in one namespace cannot take another's address or traffic,
 * nor get addresses announced that the operator did not hand out (issue 14 items 1-3), on the
 * real API server with the IPAM leader (as the bgpvs ServiceAccount) and one node agent (its
 * nft data plane in a netns, its gobgpd):
 *   - a ClusterIP Service listing another Service's LoadBalancer IP, a node's address or an
 *     address outside --service.external-ip-cidrs in spec.externalIPs: those are neither
 *     programmed nor announced, the owner's virtual server keeps its backends, and the
 *     offending Service gets one Warning Event (from the leader);
 *   - sharing: a blanked sharing key on the newer sharer moves no one; another namespace's
 *     Service with the same key does not get the address unless the pool allows it; a
 *     newcomer asking for a shared address with a clashing port loses;
 *   - pools: /0 is refused at admission; a pool overlapping an older one, spanning loopback
 *     or wider than the minimum prefix is Ready=False saying why and never used, and the
 *     older pool's accounting stays exact.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { IpamController } from '../../src/agent/ipam-controller.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { KubeApi } from '../rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';
import { ensureNamespace, eventsFor, ipsOf, lbService, poolApi, startCluster, waitIps } from '../rig/k8s-helpers.js';
import { localEndpoint, startNodeAgent, type NodeAgent } from '../rig/k8s-node-agent.js';

let api: KubeApi;
let admin: KubeConfig;
let core: CoreV1Api;
let ctrl: IpamController;
let node: NodeAgent;
/** An operator who allowed too much: the pool's range and the nodes' subnet too. */
const EXTERNAL_OK = '198.51.100.0/24,192.0.2.0/24,10.0.0.0/24';

before(async () => {
  ({ api, admin } = await startCluster());
  core = admin.makeApiClient(CoreV1Api);
  for (const ns of ['prod', 'evil', 'team-x', 'team-y']) await ensureNamespace(core, ns);
  await poolApi(admin).create('main', { cidrs: ['192.0.2.0/28'] });
  await poolApi(admin).create('shared', { cidrs: ['203.0.113.0/29'], autoAssign: false, serviceAllocation: { allowSharingAcrossNamespaces: true } });
  const kc = await api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false });
  ctrl = new IpamController({
    kc,
    logger: silentLogger(),
    identity: 'node-a',
    config: { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true },
    externalIpCidrs: EXTERNAL_OK.split(','),
    lease: { durationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
    resyncMs: 2_000,
  });
  await ctrl.start();
  node = await startNodeAgent(api, admin, { nodeName: 'node-a', nodeAddress: '10.0.0.11', logger: silentLogger(), extraArgs: [`--service.external-ip-cidrs=${EXTERNAL_OK}`] });
});

after(async () => {
  await ctrl?.stop();
  await node?.stop();
  await api?.stop();
});

interface Vs {
  vip: string;
  port: number;
  realServers: { address: string }[];
}
const vsList = async () => (await node.virtualServers()) as Vs[];
const clusterService = (ns: string, name: string, externalIPs: string[]): V1Service => ({
  metadata: { name, namespace: ns },
  spec: { type: 'ClusterIP', externalIPs, ports: [{ name: 'p80tcp', port: 80, protocol: 'TCP' }] },
});

describe('externalIPs (item 1)', () => {
  it("another namespace's externalIPs take neither an LB address nor a node's, nor go outside the allow-list; one Warning", async () => {
    await core.createNamespacedService({ namespace: 'prod', body: lbService('prod', 'web') });
    await localEndpoint(admin, 'prod', 'web', 'node-a', '10.244.0.10');
    const [lbIp] = await waitIps(core, 'prod', 'web');
    await waitFor('owner programmed', async () => ((await vsList()).some((v) => v.vip === lbIp) ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

    await core.createNamespacedService({ namespace: 'evil', body: clusterService('evil', 'grab', [lbIp!, '8.8.8.8', '10.0.0.11', '198.51.100.5']) });
    await localEndpoint(admin, 'evil', 'grab', 'node-a', '10.244.0.66');
    // The allowed one shows the tenant's Service was planned; the rest must not be there.
    const vs = await waitFor('allowed externalIP programmed', async () => {
      const l = await vsList();
      return l.some((v) => v.vip === '198.51.100.5') ? l : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    assert.deepEqual(vs.filter((v) => ['8.8.8.8', '10.0.0.11'].includes(v.vip)), [], 'refused externalIPs programmed');
    const owner = vs.filter((v) => v.vip === lbIp);
    assert.equal(owner.length, 1);
    assert.deepEqual(owner[0]!.realServers.map((r) => r.address), ['10.244.0.10'], "the owner's traffic moved");
    const paths = await waitFor('allowed externalIP announced', async () => {
      const p = await node.paths();
      return p['198.51.100.5/32'] ? p : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(paths['8.8.8.8/32'], undefined, '8.8.8.8 announced');
    assert.equal(paths['10.0.0.11/32'], undefined, 'a node address announced');

    const ev = await waitFor('ExternalIPRefused', async () => (await eventsFor(core, 'evil', 'grab')).find((e) => e.reason === 'ExternalIPRefused'), { timeoutMs: 20_000 });
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', new RegExp(`${lbIp!.replace(/\./g, '\\.')}: is the LoadBalancer address of a Service of another namespace`));
    assert.match(ev.message ?? '', /8\.8\.8\.8: outside the CIDRs the operator allows/);
    assert.match(ev.message ?? '', /10\.0\.0\.11: is a node's address/);
    assert.doesNotMatch(ev.message ?? '', /198\.51\.100\.5/);
    assert.equal(ev.source?.component ?? ev.reportingComponent, 'bgpvs-ipam', 'the leader writes it');
    assert.equal((await eventsFor(core, 'prod', 'web')).filter((e) => e.type === 'Warning').length, 0);
  });
});

describe('sharing (item 2)', () => {
  const setAnnotation = async (ns: string, name: string, key: string, value: string) => {
    const s = await core.readNamespacedService({ namespace: ns, name });
    await core.replaceNamespacedService({ namespace: ns, name, body: { ...s, metadata: { ...s.metadata, annotations: { ...s.metadata?.annotations, [key]: value } } } });
  };

  it('the newer sharer blanking its key moves no one (lab finding b)', async () => {
    const share = { 'bgpvs.io/allow-shared-ip': 'k' };
    await core.createNamespacedService({ namespace: 'prod', body: lbService('prod', 'first', { annotations: share, ports: [[80]] }) });
    const [ip] = await waitIps(core, 'prod', 'first');
    // creationTimestamp has one-second resolution: make "second" the newer, as in the lab.
    await new Promise((r) => setTimeout(r, 1_100));
    await core.createNamespacedService({ namespace: 'prod', body: lbService('prod', 'second', { annotations: share, ports: [[443]] }) });
    assert.deepEqual(await waitIps(core, 'prod', 'second'), [ip]);

    await setAnnotation('prod', 'second', 'bgpvs.io/allow-shared-ip', ' ');
    const ev = await waitFor('invalidRequest on second', async () => (await eventsFor(core, 'prod', 'second')).find((e) => e.reason === 'invalidRequest'), { timeoutMs: 20_000 });
    assert.equal(ev.type, 'Warning');
    // Several passes later (resync 2 s) nobody has moved.
    const passes = ctrl.passCount;
    await waitFor('three more passes', () => (ctrl.passCount >= passes + 3 ? true : undefined), { timeoutMs: 20_000 });
    await ctrl.idle();
    assert.deepEqual(ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'first' })), [ip], 'the older holder was moved');
    assert.deepEqual(ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'second' })), [ip]);
    const warnings = (await eventsFor(core, 'prod', 'first')).filter((e) => e.type === 'Warning');
    assert.deepEqual(warnings.map((e) => `${e.reason}: ${e.message}`), []);
  });

  it('a newcomer asking for a shared address with a clashing port loses, with a Warning', async () => {
    const [ip] = ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'first' }));
    await core.createNamespacedService({ namespace: 'prod', body: lbService('prod', 'clash', { annotations: { 'bgpvs.io/allow-shared-ip': 'k' }, ports: [[80]], lbIP: ip }) });
    const ev = await waitFor('requestedIPInUse', async () => (await eventsFor(core, 'prod', 'clash')).find((e) => e.reason === 'requestedIPInUse'), { timeoutMs: 20_000 });
    assert.match(ev.message ?? '', new RegExp(`requested ${ip!.replace(/\./g, '\\.')} is in use by prod/first, prod/second: prod/first holds it and serves TCP/80 there too`));
    assert.deepEqual(ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'clash' })), []);
    assert.deepEqual(ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'first' })), [ip]);
  });

  it('the same key in another namespace does not share, unless the pool allows it', async () => {
    const [ip] = ipsOf(await core.readNamespacedServiceStatus({ namespace: 'prod', name: 'first' }));
    await core.createNamespacedService({ namespace: 'team-y', body: lbService('team-y', 'same-key', { annotations: { 'bgpvs.io/allow-shared-ip': 'k' }, ports: [[8080]] }) });
    const [other] = await waitIps(core, 'team-y', 'same-key');
    assert.notEqual(other, ip, 'shared across namespaces in a pool that does not allow it');
    await core.createNamespacedService({ namespace: 'team-y', body: lbService('team-y', 'asks', { annotations: { 'bgpvs.io/allow-shared-ip': 'k' }, ports: [[8081]], lbIP: ip }) });
    const ev = await waitFor('requestedIPInUse', async () => (await eventsFor(core, 'team-y', 'asks')).find((e) => e.reason === 'requestedIPInUse'), { timeoutMs: 20_000 });
    assert.match(ev.message ?? '', /in another namespace \(pool main does not allow sharing across namespaces\)/);

    const open = { 'bgpvs.io/allow-shared-ip': 'm', 'bgpvs.io/address-pool': 'shared' };
    await core.createNamespacedService({ namespace: 'team-x', body: lbService('team-x', 'open-a', { annotations: open, ports: [[80]] }) });
    const [s] = await waitIps(core, 'team-x', 'open-a');
    await core.createNamespacedService({ namespace: 'team-y', body: lbService('team-y', 'open-b', { annotations: open, ports: [[443]] }) });
    assert.deepEqual(await waitIps(core, 'team-y', 'open-b'), [s]);
  });
});

describe('pools (item 3)', () => {
  const ready = async (name: string) => {
    const p = await poolApi(admin).get(name);
    const c = p.status?.conditions?.find((x) => x.type === 'Ready');
    return c && c.observedGeneration === p.metadata?.generation ? c : undefined;
  };

  it('refuses 0.0.0.0/0 at admission', async () => {
    await assert.rejects(poolApi(admin).create('everything', { cidrs: ['0.0.0.0/0'] }), (e: unknown) => e instanceof ApiException && e.code === 422 && /a \/0 is every address/.test(String(e.body)));
  });

  it('overlapping, loopback-spanning and too-wide pools are Ready=False saying why, and never used (lab finding c)', async () => {
    const main = poolApi(admin);
    await main.create('wide', { cidrs: ['192.0.2.0/24'], serviceAllocation: { priority: 0 } });
    await main.create('spans-loopback', { ranges: [{ start: '126.0.0.0', end: '128.0.0.0' }] });
    await main.create('too-wide', { cidrs: ['172.16.0.0/12'] });
    for (const [name, why] of [['wide', /overlaps pool main, which is older/], ['spans-loopback', /covers loopback space/], ['too-wide', /wider than a \/16/]] as const) {
      const c = await waitFor(`${name} Ready=False`, async () => {
        const r = await ready(name);
        return r?.status === 'False' ? r : undefined;
      }, { timeoutMs: 20_000 });
      assert.equal(c.reason, 'InvalidSpec');
      assert.match(c.message, why);
    }
    assert.equal((await ready('main'))?.status, 'True');

    // A request inside the refused pool only: no address; a new Service still comes from main.
    await core.createNamespacedService({ namespace: 'evil', body: lbService('evil', 'outside', { lbIP: '192.0.2.200' }) });
    const ev = await waitFor('requestedIPNotInPool', async () => (await eventsFor(core, 'evil', 'outside')).find((e) => e.reason === 'requestedIPNotInPool'), { timeoutMs: 20_000 });
    assert.match(ev.message ?? '', /192\.0\.2\.200: no pool contains it/);
    await core.createNamespacedService({ namespace: 'evil', body: lbService('evil', 'plain') });
    const [ip] = await waitIps(core, 'evil', 'plain');
    assert.match(ip!, /^192\.0\.2\.([0-9]|1[0-5])$/);
    assert.equal((await node.paths())['192.0.2.200/32'], undefined);

    // Exact accounting: main's used is the number of distinct main addresses the Services hold.
    const held = new Set((await core.listServiceForAllNamespaces()).items.flatMap(ipsOf).filter((a) => /^192\.0\.2\.([0-9]|1[0-5])$/.test(a)));
    const st = await waitFor('main used', async () => {
      const p = await poolApi(admin).get('main');
      return p.status?.used === held.size ? p.status : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(st.free, String(16 - held.size));
    assert.equal((await poolApi(admin).get('wide')).status?.used ?? 0, 0);
  });
});
