/**
 * bench:k8s — 5,000 LoadBalancer Services created in a burst against a real kube-apiserver +
 * etcd; the IPAM controller runs as its own process (as the bgpvs ServiceAccount), with the
 * DaemonSet's NODE_OPTIONS (heap cap). Measures the time from the first create until every
 * Service has an address (all_assigned_ms), how much of that came after the last create
 * returned (after_last_create_ms: the creates themselves are bounded by the API server's write
 * rate on this machine, 40-140/s depending on load, not by the agent), and the agent's peak RSS.
 * BENCH_MODE=backlog creates the Services first and starts the agent after: all_assigned_ms is
 * then from the agent's spawn, i.e. the agent's own allocation + status-write throughput.
 * Last line: {"services":5000,"all_assigned_ms":…,"agent_rss_mb":…,"mode":…,"created_ms":…,"after_last_create_ms":…}
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, makeInformer, type V1Service } from '@kubernetes/client-node';
import { run, spawnDaemon } from '../src/exec/run.js';
import { pooledKubeConfig } from '../src/k8s/pooled-kube-config.js';
import { waitFor } from '../src/util/wait.js';
import { ensureNamespace, ipsOf, lbService, poolApi, startCluster } from '../test/rig/k8s-helpers.js';

const N = Number(process.env.BENCH_SERVICES ?? 5_000);
/** The agent's NODE_OPTIONS in daemonset/daemonset.yaml. */
function daemonSetNodeOptions(): string {
  const m = /name: NODE_OPTIONS\s+value: (.+)/.exec(readFileSync(join(import.meta.dirname, '..', 'daemonset', 'daemonset.yaml'), 'utf8'));
  return m ? m[1]!.trim() : '';
}
const CREATE_CONCURRENCY = 48;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

// The agent runs compiled, as in the image (tsx's loader thread alone costs ~100 MB of RSS).
const root = join(import.meta.dirname, '..');
const outDir = join(root, 'dist', 'bench-k8s');
await run(['npx', 'tsc', '-p', 'tsconfig.json', '--outDir', outDir], { cwd: root, allowFailure: true });
const agentJs = join(outDir, 'test', 'integration', 'k8s-agent.js');

const { api, admin } = await startCluster();
let agentPid: number | undefined;
try {
  // The load generator keeps its connections alive too (as kubectl and controllers do).
  const core = pooledKubeConfig(admin, CREATE_CONCURRENCY).makeApiClient(CoreV1Api);
  await poolApi(admin).create('bench', { cidrs: ['10.200.0.0/16'] });
  const nsCount = 10;
  for (let i = 0; i < nsCount; i++) await ensureNamespace(core, `bench-${i}`);
  const kubeconfig = await api.tokenKubeconfigFile('bgpvs-system', 'bgpvs', { create: false });
  const leases = admin.makeApiClient(CoordinationV1Api);
  const startAgent = async (): Promise<number> => {
    const agent = spawnDaemon(['node', agentJs, kubeconfig, 'bench-agent', '15000'], {
      cwd: root,
      logFile: join(api.dir, 'agent.log'),
      env: { ...process.env, BGPVS_LOG_LEVEL: process.env.BGPVS_LOG_LEVEL ?? 'info', NODE_OPTIONS: process.env.BENCH_AGENT_NODE_OPTIONS ?? daemonSetNodeOptions() } as Record<string, string>,
    });
    agentPid = agent.pid;
    await waitFor('agent leads', async () => ((await leases.readNamespacedLease({ namespace: 'bgpvs-system', name: 'bgpvs-ipam' }).catch(() => undefined))?.spec?.holderIdentity === 'bench-agent' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    return rssMb(agentPid as number);
  };
  // burst (default): the agent runs while the Services are created. backlog: the Services
  // exist first and the agent starts then, so the figure is the agent's own allocation and
  // status-write throughput, not the API server's create rate.
  const backlog = process.env.BENCH_MODE === 'backlog';
  let idleRss = backlog ? 0 : await startAgent();

  // Watch for completion rather than polling 5,000 objects.
  const assigned = new Set<string>();
  let done: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (done = r));
  const inf = makeInformer<V1Service>(admin, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const seen = (s: V1Service) => {
    if (ipsOf(s).length > 0 && s.metadata?.namespace?.startsWith('bench-')) assigned.add(`${s.metadata.namespace}/${s.metadata.name}`);
    if (assigned.size >= N) done();
  };
  inf.on('add', seen);
  inf.on('update', seen);
  await inf.start();

  let peakRss = idleRss;
  const sampler = setInterval(() => {
    try {
      if (agentPid !== undefined) peakRss = Math.max(peakRss, rssMb(agentPid));
    } catch {
      // agent gone
    }
  }, 100);

  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const ns = `bench-${i % nsCount}`;
        await core.createNamespacedService({ namespace: ns, body: lbService(ns, `svc-${i}`, { ports: [[80 + (i % 3)]] }) });
      }
    }),
  );
  const createdMs = performance.now() - t0;
  const assignedAtLastCreate = assigned.size;
  let tAgent = t0;
  if (backlog) {
    tAgent = performance.now();
    idleRss = await startAgent();
    peakRss = Math.max(peakRss, idleRss);
  }
  const timeout = setTimeout(() => done(), 120_000);
  await allDone;
  clearTimeout(timeout);
  const allMs = performance.now() - t0;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, rssMb(agentPid as number));
  await inf.stop();
  console.log(`# mode ${backlog ? 'backlog' : 'burst'}; agent NODE_OPTIONS: ${process.env.BENCH_AGENT_NODE_OPTIONS ?? daemonSetNodeOptions()}`);
  if (backlog) console.log(`# backlog: agent started after the ${N} creates; all assigned ${(performance.now() - tAgent).toFixed(0)} ms after the agent was spawned (includes its start, initial list and lease)`);
  console.log(`# created ${N} Services in ${createdMs.toFixed(0)} ms (${((N * 1000) / createdMs).toFixed(0)}/s), ${assignedAtLastCreate} already had an address then; all ${assigned.size} assigned ${allMs.toFixed(0)} ms after the first create, ${(allMs - createdMs).toFixed(0)} ms after the last; agent RSS idle ${idleRss.toFixed(0)} MB, peak ${peakRss.toFixed(0)} MB`);
  if (assigned.size < N) console.log(`# only ${assigned.size} of ${N} Services got an address within 120 s`);
  const complete = assigned.size >= N;
  const fromAgentMs = allMs - (tAgent - t0);
  // Who was busy: the agent's and the API server's CPU over the run (etcd not counted).
  console.log(`# CPU seconds over the run: agent ${cpuSeconds(agentPid).toFixed(1)}, kube-apiserver ${cpuSeconds(api.pids().apiServer).toFixed(1)} (wall ${(allMs / 1000).toFixed(1)} s; the machine's load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`);
  console.log(
    JSON.stringify({
      services: N,
      all_assigned_ms: complete ? Math.round(backlog ? fromAgentMs : allMs) : null,
      agent_rss_mb: Math.round(peakRss),
      mode: backlog ? 'backlog' : 'burst',
      created_ms: Math.round(createdMs),
      after_last_create_ms: complete && !backlog ? Math.round(allMs - createdMs) : null,
    }),
  );
} finally {
  if (agentPid) {
    try {
      process.kill(agentPid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await api.stop();
}
