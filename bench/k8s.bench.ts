/**
 * bench:k8s — 5,000 LoadBalancer Services created in a burst against a real kube-apiserver +
 * etcd; the IPAM controller runs as its own process (as the bgpvs ServiceAccount), with the
 * DaemonSet's NODE_OPTIONS (heap cap). Measures the time from the first create until every
 * Service has an address (all_assigned_ms), how much of that came after the last create
 * returned (after_last_create_ms: the creates themselves are bounded by the API server's write
 * rate on this machine, 40-140/s depending on load, not by the agent), and the agent's peak RSS.
 * BENCH_MODE=backlog creates the Services first and starts the agent after: all_assigned_ms is
 * then from the agent's spawn, i.e. the agent's own allocation + status-write throughput.
 * Then, with the same Services (all assigned), the whole agent (`bgpvs agent`: informers, node
 * pass, nft, gobgpd, IP allocation) starts in a network namespace, once as built now (one
 * informer set) and once as built at BENCH_K8S_BEFORE_REF (default d1264f3: the node pass and
 * the IPAM controller each watched Services, pools and peers), both compiled, with the
 * DaemonSet's NODE_OPTIONS; each one's peak RSS from spawn to 5 s after /readyz:
 * full_agent_rss_mb and full_agent_rss_mb_before (BENCH_K8S_BEFORE_REF=none skips the latter).
 * Last line: {"services":5000,"all_assigned_ms":…,"agent_rss_mb":…,"mode":…,"created_ms":…,"after_last_create_ms":…,"full_agent_rss_mb":…,"full_agent_rss_mb_before":…}
 */
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CoordinationV1Api, CoreV1Api, makeInformer, type V1Service } from '@kubernetes/client-node';
import { run, spawnDaemon } from '../src/exec/run.js';
import { pooledKubeConfig } from '../src/k8s/pooled-kube-config.js';
import { waitFor } from '../src/util/wait.js';
import { ensureNamespace, ipsOf, lbService, poolApi, startCluster } from '../test/rig/k8s-helpers.js';
import { NetLab } from '../test/rig/netns.js';
import { gobgpProtoDir, toolPath } from '../test/rig/paths.js';
import type { KubeApi } from '../test/rig/kube-api.js';
import { ApiBridge } from '../lab/api-bridge.js';

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
const agentJs = join(outDir, 'test', 'rig', 'k8s-agent.js');
// and the agent's own build (dist/), as bin/bgpvs.js runs it
await run(['npm', 'run', '--silent', 'build'], { cwd: root });

/** The agent CLI as built at `ref` (a detached worktree, compiled with that tree's tsconfig). */
async function cliAt(ref: string): Promise<string> {
  const dir = join(tmpdir(), `bgpvs-bench-k8s-${ref}`);
  if (!existsSync(dir)) await run(['git', 'worktree', 'add', '--detach', dir, ref], { cwd: root });
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const build = existsSync(join(dir, 'tsconfig.build.json')) ? 'tsconfig.build.json' : 'tsconfig.json';
  await run(['npx', 'tsc', '-p', build, '--outDir', join(dir, 'dist')], { cwd: dir, allowFailure: true });
  for (const c of [join(dir, 'dist', 'cli.js'), join(dir, 'dist', 'src', 'cli.js')]) if (existsSync(c)) return c;
  throw new Error(`no compiled CLI for ${ref} in ${dir}/dist`);
}

/**
 * Peak RSS (MB) of a whole agent from its spawn until 5 s after its /readyz answered, run in a
 * fresh network namespace (nft and gobgpd stay there) that reaches the API server through a bridge.
 */
async function fullAgentRss(api: KubeApi, cli: string, label: string): Promise<number> {
  const lab = await NetLab.create('benchk8s');
  const bridge = new ApiBridge({ dir: api.dir, port: api.ports.apiServer });
  try {
    await lab.addNs('node');
    await bridge.start();
    await bridge.attach(lab, 'node');
    const kubeconfig = await api.tokenKubeconfigFile('bgpvs-system', 'bgpvs', { create: false });
    const agent = spawnDaemon(
      ['node', cli, 'agent', '--node-name=bench-node', '--node-address=10.0.0.11', `--kubeconfig=${kubeconfig}`, '--bgp.asn=65001', '--dataplane=nft', '--bgp.graceful-shutdown=0s', '--metrics-address=127.0.0.1:9254', '--ipam.enabled=true'],
      {
        netns: lab.ns('node'),
        logFile: join(api.dir, `agent-${label}.log`),
        env: { ...process.env, BGPVS_GOBGPD: toolPath('gobgpd'), BGPVS_PROTO_DIR: gobgpProtoDir(), NODE_OPTIONS: daemonSetNodeOptions() } as Record<string, string>,
      },
    );
    let peak = 0;
    const sample = () => {
      try {
        if (agent.pid !== undefined) peak = Math.max(peak, rssMb(agent.pid));
      } catch {
        // not yet, or gone
      }
    };
    const sampler = setInterval(sample, 100);
    try {
      await waitFor(`${label} agent ready`, async () => ((await run(['curl', '-sf', '--max-time', '2', 'http://127.0.0.1:9254/readyz'], { netns: lab.ns('node'), allowFailure: true })).exitCode === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 200 });
      await new Promise((r) => setTimeout(r, 5_000));
      sample();
    } finally {
      clearInterval(sampler);
      agent.kill('SIGKILL');
      await agent.catch(() => undefined);
    }
    return Math.round(peak);
  } finally {
    await bridge.stop();
    await lab.destroy();
  }
}

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
  // The IPAM-only process goes; the whole agent, now and before, on the same Services.
  process.kill(agentPid as number, 'SIGKILL');
  agentPid = undefined;
  const beforeRef = process.env.BENCH_K8S_BEFORE_REF ?? 'd1264f3';
  await core.createNode({ body: { metadata: { name: 'bench-node' } } }).then((n) =>
    core.replaceNodeStatus({ name: 'bench-node', body: { ...n, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.11' }], conditions: [{ type: 'Ready', status: 'True', reason: 'Bench', lastHeartbeatTime: new Date(0), lastTransitionTime: new Date(0) }] } } }),
  );
  const fullNow = await fullAgentRss(api, join(root, 'bin', 'bgpvs.js'), 'now');
  const fullBefore = beforeRef === 'none' ? null : await fullAgentRss(api, await cliAt(beforeRef), 'before');
  console.log(`# whole agent with ${N} Services: peak RSS ${fullNow} MB now (one informer set), ${fullBefore ?? '-'} MB at ${beforeRef} (two)`);
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
      full_agent_rss_mb: fullNow,
      full_agent_rss_mb_before: fullBefore,
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
