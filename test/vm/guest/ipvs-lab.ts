/**
 * Runs INSIDE the VM (compiled: test/rig/guest-build.ts): the lab with the IPVS data plane. The real etcd +
 * kube-apiserver, FRR as the router, a client, two nodes each running a real
 * `bgpvs agent --dataplane=ipvs` (gobgpd child, the bgpvs ServiceAccount) with lab pods, built
 * by the same code as `npm run lab` (startLab, startAgents) from lab/bgpvs.clab.yml minus node3.
 *
 *   scenario 1: Cluster policy, tunnel (IPIP) forwarding, mh with mh-port; a pod on each node.
 *   scenario 2: Local policy, DR forwarding; two pods on node1, none on node2.
 *   NAT fallback: Local, port 8080 → targetPort 80 (DSR cannot remap ports) on node1's pods.
 *
 * Measures and records, never asserts: the host test (test/vm/ipvs-lab.test.ts) asserts on
 * the JSON written to argv[2], rewritten after every step so a timeout still leaves the steps
 * that finished.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';
import { startLab, DEFAULT_TOPOLOGY, type RunningLab } from '../../../lab/run.js';
import { createPool, DEMO_POOL_CIDR, labRouter, routerNexthops, startAgents, type LabAgent } from '../../../lab/agents.js';
import { run } from '../../../src/exec/run.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { sleep, waitFor } from '../../../src/util/wait.js';

const out = process.argv[2] ?? '/tmp/ipvs-lab.json';
const shareDir = process.argv[3] ?? '/tmp';
const result: Record<string, unknown> = { steps: [] as string[] };
const uptimeMs = () => Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);
const save = () => writeFileSync(out, JSON.stringify(result, null, 1));
const t0 = Date.now();
const step = (name: string, data: Record<string, unknown>) => {
  result[name] = { ...data, atMs: Date.now() - t0 };
  (result.steps as string[]).push(name);
  save();
};
result.guestUptimeAtStartMs = uptimeMs();
save();

// TCG on a shared host: generous waits (the host test's timeout bounds the whole run), and
// slow polling, since every probe spawns processes that compete with the agents for the CPU.
const SLOW = 900_000;
const POLL = 2_000;

async function waitIp(l: RunningLab, name: string): Promise<string> {
  const core = l.cluster.kc.makeApiClient(CoreV1Api);
  return waitFor(`an IP for demo/${name}`, async () => (await core.readNamespacedServiceStatus({ name, namespace: 'demo' })).status?.loadBalancer?.ingress?.[0]?.ip, { timeoutMs: SLOW, intervalMs: POLL });
}

async function waitHops(l: RunningLab, vip: string, want: string[]): Promise<void> {
  await waitFor(`router next hops for ${vip} = ${want.join(',')}`, async () => ((await routerNexthops(l, vip)).join(',') === want.join(',') ? true : undefined), { timeoutMs: SLOW, intervalMs: POLL });
}

/**
 * `count` connections from the client, answers counted by "pod clientIP": the lab's connect()
 * with TCG-sized timeouts (a pod's responder forks a shell per connection, seconds here).
 */
async function connect(l: RunningLab, vip: string, port: number, count: number): Promise<Record<string, number>> {
  const client = l.topo.nodes.find((n) => n.role === 'client')!;
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const r = await run(['socat', '-t', '15', '-T', '15', 'STDIO', `TCP:${vip}:${port},connect-timeout=10`], { netns: l.lab.ns(client.name), allowFailure: true, input: '' });
    const k = r.stdout.trim() || 'no answer';
    seen[k] = (seen[k] ?? 0) + 1;
  }
  return seen;
}

async function waitAnswer(l: RunningLab, vip: string, port: number): Promise<void> {
  await waitFor(`${vip}:${port} answering`, async () => ((await connect(l, vip, port, 1))['no answer'] ? undefined : true), { timeoutMs: SLOW, intervalMs: POLL });
}

/** When each agent logged 'agent running' (ms after `since`), or its exit code when it died. */
function agentStarts(agents: readonly LabAgent[], since: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of agents) {
    const lines = readFileSync(a.logFile, 'utf8').split('\n').filter(Boolean);
    const first = lines[0] ? (JSON.parse(lines[0]) as { time?: number }).time : undefined;
    const running = lines.map((x) => JSON.parse(x) as { time?: number; msg?: string }).find((x) => x.msg === 'agent running')?.time;
    const chosen = lines.map((x) => JSON.parse(x) as { msg?: string; dataplane?: string; requested?: string }).find((x) => x.msg === 'data plane chosen');
    out[a.node] = {
      firstLogMs: first && first - since,
      runningMs: running && running - since,
      exitCode: a.proc.exitCode ?? null,
      lines: lines.length,
      dataplane: chosen && `${chosen.dataplane} (requested ${chosen.requested})`,
    };
  }
  return out;
}

/** lab/bgpvs.clab.yml without node3: router, client, node1, node2. */
function twoNodeTopology(dir: string): string {
  const doc = parse(readFileSync(DEFAULT_TOPOLOGY, 'utf8')) as { topology: { nodes: Record<string, unknown>; links: Array<{ endpoints: string[] }> } };
  delete doc.topology.nodes.node3;
  doc.topology.links = doc.topology.links.filter((l) => !l.endpoints.some((e) => e.startsWith('node3:') || e === 'lan:n3'));
  const file = join(dir, 'ipvs-lab.clab.yml');
  writeFileSync(file, stringify(doc));
  return file;
}

async function lbService(l: RunningLab, name: string, policy: 'Local' | 'Cluster', port: number, targetPort: number, annotations: Record<string, string>): Promise<V1Service> {
  const core = l.cluster.kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'demo' } } }).catch(() => undefined);
  return core.createNamespacedService({
    namespace: 'demo',
    body: {
      metadata: { name, namespace: 'demo', annotations },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, ports: [{ name: 'p', port, targetPort, protocol: 'TCP' }] },
    },
  });
}

/**
 * What a node's kernel holds: IPVS table and stats, VIPs on bgpvs0, the DSR sysctl. The kernel's
 * IPVS estimator folds per-CPU counters into `--stats` every 2 s: wait that out first.
 */
async function nodeState(l: RunningLab, node: string, vip: string) {
  await sleep(3_000);
  const x = async (argv: string[]) => (await l.lab.exec(node, argv, { allowFailure: true })).stdout;
  const stats = await x(['ipvsadm', '-Ln', '--stats', '--exact']);
  return {
    save: await x(['ipvsadm', '-Sn']),
    stats,
    vs: parseStats(stats, vip),
    vips: (await x(['ip', '-o', '-4', 'addr', 'show', 'dev', 'bgpvs0'])).trim().split('\n').filter(Boolean).map((line) => line.split(/\s+/)[3]),
    acceptLocal: (await x(['sysctl', '-n', 'net.ipv4.conf.cbr0.accept_local'])).trim(),
  };
}

/** `ipvsadm -Ln --stats --exact`: the service row and its real-server rows for `vip`. */
function parseStats(text: string, vip: string) {
  const rows: Array<{ addr: string; conns: number; inPkts: number; outPkts: number }> = [];
  let inService = false;
  let service: { conns: number; inPkts: number; outPkts: number } | undefined;
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] === 'TCP' || t[0] === 'UDP') {
      inService = t[1]!.startsWith(`${vip}:`);
      if (inService) service = { conns: Number(t[2]), inPkts: Number(t[3]), outPkts: Number(t[4]) };
    } else if (inService && t[0] === '->' && /^\d/.test(t[1] ?? '')) {
      rows.push({ addr: t[1]!, conns: Number(t[2]), inPkts: Number(t[3]), outPkts: Number(t[4]) });
    }
  }
  return { service, reals: rows };
}

async function podAddrs(l: RunningLab, ns: string) {
  const r = await l.lab.exec(ns, ['ip', '-o', '-4', 'addr', 'show'], { allowFailure: true });
  return r.stdout.trim().split('\n').filter(Boolean).map((line) => { const t = line.split(/\s+/); return `${t[1]} ${t[3]}`; });
}

let l: RunningLab | undefined;
let agents: LabAgent[] = [];
const agentDir = join(shareDir, 'agents');
try {
  mkdirSync(agentDir, { recursive: true });
  const dir = '/tmp/ipvs-lab';
  mkdirSync(dir, { recursive: true });
  const tLab = Date.now();
  l = await startLab({ topologyFile: twoNodeTopology(dir), dir: join(dir, 'cluster'), logger: silentLogger(), apiReadyTimeoutMs: 600_000 });
  step('labUp', { ms: Date.now() - tLab, kubeApi: l.cluster.api.timings, nodes: l.cluster.nodes.map((n) => n.name) });

  await createPool(l, 'demo', DEMO_POOL_CIDR);
  const tAgents = Date.now();
  // Peers without BFD: under TCG on a shared host the guest stalls for longer than any BFD
  // detection time (100 ms x 3 flapped every few seconds); BFD is proven on the host's e2e.
  const routerNode = l.topo.nodes.find((n) => n.role === 'router')!;
  const peers = JSON.stringify([{ address: routerNode.address, asn: routerNode.asn }]);
  // `--dataplane=auto` (the DaemonSet's default) after startAgents' `--dataplane=ipvs`, so the
  // agents detect IPVS on this kernel themselves; the pod netns map flag stays.
  agents = await startAgents(l, { dir: agentDir, dataplane: 'ipvs', extraArgs: ['--dataplane=auto', '--service.default-forwarding=tunnel', `--bgp.peers=${peers}`] });
  const router = labRouter(l);
  try {
    await waitFor('both agents Established at the router', async () => ((await router.bgpSummary()).filter((p) => p.state === 'Established').length === 2 ? true : undefined), { timeoutMs: SLOW, intervalMs: 3_000 });
  } finally {
    result.agentStarts = agentStarts(agents, tAgents);
  }
  step('agentsUp', { ms: Date.now() - tAgents, agents: agentStarts(agents, tAgents) });

  // Scenario 1: Cluster, tunnel, one pod per node; mh-port so flows spread over pods too.
  const t1 = Date.now();
  const web = await lbService(l, 'web', 'Cluster', 80, 80, { 'bgpvs.io/scheduler-flags': 'mh-port' });
  const p1 = await l.cluster.addPods('node1', 1, 80);
  const p2 = await l.cluster.addPods('node2', 1, 80);
  await l.cluster.setEndpoints(web, [...p1, ...p2]);
  const vip1 = await waitIp(l, 'web');
  await waitHops(l, vip1, ['10.0.0.11', '10.0.0.12']);
  await waitAnswer(l, vip1, 80);
  const provisionMs = Date.now() - t1;
  const seen1 = await connect(l, vip1, 80, 20);
  step('scenario1', {
    vip: vip1,
    provisionMs,
    nexthops: await routerNexthops(l, vip1),
    seen: seen1,
    node1: await nodeState(l, 'node1', vip1),
    node2: await nodeState(l, 'node2', vip1),
    pods: { [p1[0]!.name]: await podAddrs(l, p1[0]!.ns), [p2[0]!.name]: await podAddrs(l, p2[0]!.ns) },
    podIps: { [p1[0]!.name]: p1[0]!.ip, [p2[0]!.name]: p2[0]!.ip },
  });

  // Scenario 2: Local, DR; two more pods on node1, none on node2.
  const t2 = Date.now();
  const local = await lbService(l, 'local', 'Local', 80, 80, { 'bgpvs.io/forwarding': 'dr', 'bgpvs.io/scheduler-flags': 'mh-port' });
  const p1b = await l.cluster.addPods('node1', 2, 80);
  await l.cluster.setEndpoints(local, p1b);
  const vip2 = await waitIp(l, 'local');
  await waitHops(l, vip2, ['10.0.0.11']);
  await waitAnswer(l, vip2, 80);
  const provision2Ms = Date.now() - t2;
  const seen2 = await connect(l, vip2, 80, 10);
  step('scenario2', {
    vip: vip2,
    provisionMs: provision2Ms,
    nexthops: await routerNexthops(l, vip2),
    seen: seen2,
    node1: await nodeState(l, 'node1', vip2),
    node2: await nodeState(l, 'node2', vip2),
    pods: Object.fromEntries(await Promise.all(p1b.map(async (p) => [p.name, await podAddrs(l!, p.ns)]))),
  });

  // NAT fallback: port 8080 → 80 cannot be DSR; Local keeps the client address.
  const t3 = Date.now();
  const remap = await lbService(l, 'remap', 'Local', 8080, 80, { 'bgpvs.io/forwarding': 'tunnel' });
  await l.cluster.setEndpoints(remap, p1b);
  const vip3 = await waitIp(l, 'remap');
  await waitHops(l, vip3, ['10.0.0.11']);
  await waitAnswer(l, vip3, 8080);
  step('natFallback', {
    vip: vip3,
    provisionMs: Date.now() - t3,
    seen: await connect(l, vip3, 8080, 5),
    node1: await nodeState(l, 'node1', vip3),
  });
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
} finally {
  result.totalMs = Date.now() - t0;
  save();
  for (const a of agents) a.proc.kill('SIGKILL');
  await l?.stop().catch(() => undefined);
}
result.guestUptimeAtEndMs = uptimeMs();
save();
console.log(`ipvs lab guest wrote ${out}`);
process.exit(0);
