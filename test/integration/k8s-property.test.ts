/**
 * Property test on the real API server: random create/delete/update sequences with
 * controller restarts in between (3 seeds × 30 steps, sequences drawn by fast-check).
 * After every step, once the cluster has settled:
 *   - never two Services on one IP unless they share it by key (same key and
 *     externalTrafficPolicy, no common port);
 *   - every address lies in a pool, and a requested address is the one assigned;
 *   - no leaked address: the pool's status counts exactly the addresses Services hold;
 *   - a restart changes no assignment.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { allocate } from '../../src/ipam/allocator.js';
import { IpamController } from '../../src/agent/ipam-controller.js';
import { parsePools } from '../../src/ipam/pools.js';
import { serviceRequest } from '../../src/ipam/service-request.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { KubeApi } from '../rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';
import { ensureNamespace, ipsOf, lbService, poolApi, startCluster } from '../rig/k8s-helpers.js';

const cfg = { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true };
const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
const POOL = /^192\.0\.2\.[0-5]$/; // 192.0.2.0 - 192.0.2.5: six addresses, ten names → exhaustion happens

type Op =
  | { op: 'create'; name: string; lbIP?: string; share?: string; port: number; etp: 'Cluster' | 'Local' }
  | { op: 'delete'; name: string }
  | { op: 'update'; name: string; lbIP?: string; share?: string; port: number }
  | { op: 'flipType'; name: string }
  | { op: 'restart' };

const arbName = fc.constantFrom(...names);
const arbLbIP = fc.option(fc.constantFrom('192.0.2.1', '192.0.2.4', '198.51.100.1'), { freq: 3, nil: undefined });
const arbShare = fc.option(fc.constantFrom('k1', 'k2'), { freq: 2, nil: undefined });
const arbPort = fc.constantFrom(80, 443, 53);
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('create' as const), name: arbName, lbIP: arbLbIP, share: arbShare, port: arbPort, etp: fc.constantFrom('Cluster' as const, 'Local' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), name: arbName }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('update' as const), name: arbName, lbIP: arbLbIP, share: arbShare, port: arbPort }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('flipType' as const), name: arbName }) },
  { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
);

let api: KubeApi;
let admin: KubeConfig;
let agent: KubeConfig;
let core: CoreV1Api;
let ctrl: IpamController | undefined;
let generation = 0;

async function startController(): Promise<void> {
  ctrl = new IpamController({ kc: agent, logger: silentLogger(), identity: `agent-${++generation}`, config: cfg, lease: { durationMs: 2_000, renewDeadlineMs: 1_300, retryPeriodMs: 250 } });
  await ctrl.start();
}

before(async () => {
  ({ api, admin } = await startCluster());
  agent = await api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false });
  core = admin.makeApiClient(CoreV1Api);
  await poolApi(admin).create('main', { ranges: [{ start: '192.0.2.0', end: '192.0.2.5' }] });
  await startController();
});

after(async () => {
  await ctrl?.stop();
  await api?.stop();
});

async function apply(ns: string, o: Op): Promise<void> {
  const get = async (name: string) => core.readNamespacedService({ namespace: ns, name }).catch(() => undefined);
  switch (o.op) {
    case 'create': {
      if (await get(o.name)) return;
      const annotations: Record<string, string> = o.share ? { 'bgpvs.io/allow-shared-ip': o.share } : {};
      await core.createNamespacedService({ namespace: ns, body: lbService(ns, o.name, { lbIP: o.lbIP, annotations, ports: [[o.port]], etp: o.etp }) });
      return;
    }
    case 'delete':
      if (await get(o.name)) await core.deleteNamespacedService({ namespace: ns, name: o.name });
      return;
    case 'update': {
      const s = await get(o.name);
      if (!s?.spec || s.spec.type !== 'LoadBalancer') return;
      const annotations = { ...(s.metadata?.annotations ?? {}) };
      if (o.share) annotations['bgpvs.io/allow-shared-ip'] = o.share;
      else delete annotations['bgpvs.io/allow-shared-ip'];
      const ports = (s.spec.ports ?? []).map((p) => ({ ...p, port: o.port, name: `p${o.port}` }));
      await core.replaceNamespacedService({ namespace: ns, name: o.name, body: { ...s, metadata: { ...s.metadata, annotations }, spec: { ...s.spec, loadBalancerIP: o.lbIP, ports } } });
      return;
    }
    case 'flipType': {
      const s = await get(o.name);
      if (!s?.spec) return;
      const toLb = s.spec.type !== 'LoadBalancer';
      const spec = toLb
        ? { ...s.spec, type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }
        : { ...s.spec, type: 'ClusterIP', allocateLoadBalancerNodePorts: undefined, externalTrafficPolicy: undefined, loadBalancerIP: undefined, ports: (s.spec.ports ?? []).map((p) => ({ ...p, nodePort: undefined })) };
      await core.replaceNamespacedService({ namespace: ns, name: o.name, body: { ...s, spec } });
      return;
    }
    case 'restart': {
      await ctrl?.stop();
      await startController();
      return;
    }
  }
}

/** The API state is a fixpoint of the allocator and the pool status agrees with it. */
async function settled(ns: string): Promise<V1Service[]> {
  return waitFor('settled', async () => {
    const services = (await core.listNamespacedService({ namespace: ns })).items;
    const pools = await poolApi(admin).list();
    const r = allocate({ pools: parsePools(pools).pools, services: services.map((s) => serviceRequest(s, cfg)), namespaceLabels: new Map() });
    if (r.services.some((a) => a.changed)) return undefined;
    const held = new Set(services.filter((s) => s.spec?.type === 'LoadBalancer').flatMap(ipsOf).filter((ip) => POOL.test(ip)));
    const st = pools.find((p) => p.metadata?.name === 'main')?.status;
    if (st?.used !== held.size) return undefined;
    return services;
  }, { timeoutMs: 15_000, intervalMs: 50 });
}

function checkInvariants(services: V1Service[], where: string): void {
  const holders = new Map<string, V1Service[]>();
  for (const s of services) {
    if (s.spec?.type !== 'LoadBalancer') {
      assert.deepEqual(ipsOf(s), [], `${where}: ${s.metadata?.name} is not a LoadBalancer but has an address`);
      continue;
    }
    for (const ip of ipsOf(s)) {
      assert.match(ip, POOL, `${where}: ${s.metadata?.name} has ${ip}, outside the pool`);
      if (s.spec.loadBalancerIP) assert.equal(ip, s.spec.loadBalancerIP, `${where}: ${s.metadata?.name} asked for ${s.spec.loadBalancerIP}`);
      holders.set(ip, [...(holders.get(ip) ?? []), s]);
    }
  }
  for (const [ip, list] of holders) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [x, y] = [list[i] as V1Service, list[j] as V1Service];
        const kx = x.metadata?.annotations?.['bgpvs.io/allow-shared-ip'];
        const ky = y.metadata?.annotations?.['bgpvs.io/allow-shared-ip'];
        const msg = `${where}: ${ip} held by ${x.metadata?.name} and ${y.metadata?.name}`;
        assert.ok(kx !== undefined && kx === ky, `${msg} without one sharing key`);
        assert.equal(x.spec?.externalTrafficPolicy, y.spec?.externalTrafficPolicy, `${msg} with different externalTrafficPolicy`);
        for (const p of x.spec?.ports ?? []) for (const q of y.spec?.ports ?? []) assert.ok(!(p.port === q.port && p.protocol === q.protocol), `${msg} on one port ${p.port}`);
      }
    }
  }
}

for (const seed of [1, 2, 3]) {
  it(`seed ${seed}: 30 random steps with restarts keep the invariants`, async () => {
    const ns = `prop-${seed}`;
    await ensureNamespace(core, ns);
    const [ops] = fc.sample(fc.array(arbOp, { minLength: 30, maxLength: 30 }), { seed, numRuns: 1 }) as [Op[]];
    let restarts = 0;
    for (const [i, o] of ops.entries()) {
      const beforeRestart = o.op === 'restart' ? (await settled(ns)).map((s) => `${s.metadata?.name}=${ipsOf(s).join(',')}`).sort() : undefined;
      await apply(ns, o);
      const where = `seed ${seed} step ${i} ${JSON.stringify(o)}`;
      const services = await settled(ns);
      checkInvariants(services, where);
      if (beforeRestart) {
        restarts++;
        assert.deepEqual(services.map((s) => `${s.metadata?.name}=${ipsOf(s).join(',')}`).sort(), beforeRestart, `${where}: a restart changed assignments`);
      }
    }
    // Clean up so the namespace's addresses return to the pool for the next seed.
    for (const s of (await core.listNamespacedService({ namespace: ns })).items) await core.deleteNamespacedService({ namespace: ns, name: s.metadata?.name ?? '' });
    await settled(ns);
    console.log(`# seed ${seed}: ${ops.length} steps, ${restarts} restarts: invariants held`);
  });
}
