/**
 * Leader election on a real API server: two agent processes (as the bgpvs ServiceAccount),
 * exactly one allocates; SIGKILL the leader → the other takes over within the lease time
 * and allocates for a Service created after the kill.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { spawnDaemon } from '../../src/exec/run.js';
import type { KubeApi } from '../rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';
import { ensureNamespace, lbService, poolApi, startCluster, waitIps } from '../rig/k8s-helpers.js';

const leaseMs = 4_000;
let api: KubeApi;
let admin: KubeConfig;
const agents = new Map<string, ReturnType<typeof spawnDaemon>>();

function startAgent(kubeconfig: string, identity: string): void {
  const p = spawnDaemon(['node', '--import', 'tsx', join(import.meta.dirname, '..', 'rig', 'k8s-agent.ts'), kubeconfig, identity, String(leaseMs)], {
    cwd: join(import.meta.dirname, '..', '..'),
    logFile: join(api.dir, `agent-${identity}.log`),
  });
  agents.set(identity, p);
}

before(async () => {
  ({ api, admin } = await startCluster());
  await poolApi(admin).create('main', { cidrs: ['192.0.2.0/28'] });
  await ensureNamespace(admin.makeApiClient(CoreV1Api), 'le');
});

after(async () => {
  for (const p of agents.values()) {
    try {
      if (p.pid) process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all([...agents.values()].map((p) => p.catch(() => undefined)));
  await api?.stop();
});

it('kill the leader → the other agent takes over within the lease time', async () => {
  const kubeconfig = await api.tokenKubeconfigFile('bgpvs-system', 'bgpvs', { create: false });
  const core = admin.makeApiClient(CoreV1Api);
  const leases = admin.makeApiClient(CoordinationV1Api);
  const holder = async () => (await leases.readNamespacedLease({ namespace: 'bgpvs-system', name: 'bgpvs-ipam' })).spec?.holderIdentity;

  startAgent(kubeconfig, 'agent-a');
  const first = await waitFor('first leader', async () => (await holder()) || undefined, { timeoutMs: 30_000, intervalMs: 100 });
  assert.equal(first, 'agent-a');
  startAgent(kubeconfig, 'agent-b');
  await core.createNamespacedService({ namespace: 'le', body: lbService('le', 'before') });
  assert.deepEqual(await waitIps(core, 'le', 'before'), ['192.0.2.0']);
  // Give agent-b time to start and watch: it must not take the lease while agent-a renews.
  await new Promise((r) => setTimeout(r, leaseMs + 2_000));
  assert.equal(await holder(), 'agent-a');

  const leader = agents.get('agent-a');
  const t0 = performance.now();
  process.kill(leader?.pid as number, 'SIGKILL');
  await core.createNamespacedService({ namespace: 'le', body: lbService('le', 'after') });
  const next = await waitFor('new leader', async () => {
    const h = await holder();
    return h && h !== 'agent-a' ? h : undefined;
  }, { timeoutMs: leaseMs * 3, intervalMs: 50 });
  const takeoverMs = performance.now() - t0;
  assert.equal(next, 'agent-b');
  assert.deepEqual(await waitIps(core, 'le', 'after', undefined, leaseMs * 3), ['192.0.2.1']);
  const firstIpMs = performance.now() - t0;
  console.log(`# lease ${leaseMs} ms: takeover after ${takeoverMs.toFixed(0)} ms; IP for a Service created at the kill after ${firstIpMs.toFixed(0)} ms`);
  // Within the lease duration plus one retry period (client-go semantics: wait out the lease by our own clock).
  assert.ok(takeoverMs < leaseMs + leaseMs / 8 + 1_000, `takeover took ${takeoverMs} ms`);
  // The earlier allocation is untouched.
  assert.deepEqual(await waitIps(core, 'le', 'before'), ['192.0.2.0']);
});
