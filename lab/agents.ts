/**
 * The lab's agents: one real `bgpvs agent` process per node, inside the node's namespace,
 * authenticated with a ServiceAccount token bound to daemonset/rbac.yaml's ClusterRole, and
 * a demo: an IP pool, a LoadBalancer Service and pods answering behind it.
 */
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type V1Service } from '@kubernetes/client-node';
import type { ResultPromise } from 'execa';
import { spawnDaemon, run } from '../src/exec/run.js';
import { repoRoot } from '../test/rig/paths.js';
import { waitFor } from '../src/util/wait.js';
import { BgpvsError } from '../src/errors.js';
import { ANNOTATION_POOL } from '../src/ipam/service-request.js';
import { FrrRouter } from '../test/rig/frr-router.js';
import type { LabRouter, RunningLab } from './run.js';
import type { LabPod } from './pods.js';

export const DEMO_POOL_CIDR = '10.200.0.0/24';

export interface LabAgent {
  node: string;
  proc: ResultPromise;
  logFile: string;
}

/** One agent per lab node (or per node named in `nodes`: a restart). Logs append to `dir`/agent-NODE.log. */
export async function startAgents(
  l: RunningLab,
  opts: { dir: string; routerAddress?: string; routerAsn?: number; nodes?: readonly string[]; dataplane?: 'nft' | 'ipvs'; extraArgs?: readonly string[] } = { dir: '' },
): Promise<LabAgent[]> {
  const kubeconfig = await l.cluster.agentKubeconfig();
  const router = l.topo.nodes.find((n) => n.role === 'router')!;
  const peers = [{ address: opts.routerAddress ?? router.address!, asn: opts.routerAsn ?? router.asn!, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 }, gracefulRestart: { enabled: true } }];
  return l.cluster.nodes.filter((n) => !opts.nodes || opts.nodes.includes(n.name)).map((n) => {
    const logFile = join(opts.dir, `agent-${n.name}.log`);
    const proc = spawnDaemon(
      [
        process.execPath,
        join(repoRoot, 'bin', 'bgpvs.js'),
        'agent',
        `--node-name=${n.name}`,
        `--node-address=${n.address}`,
        `--kubeconfig=${kubeconfig}`,
        `--bgp.asn=${n.asn}`,
        ...dataplaneArgs(opts.dataplane ?? 'nft', l.cluster.podNetnsFile(n.name)),
        '--metrics-address=127.0.0.1:9254',
        '--bgp.graceful-shutdown=0s',
        // The router connects in (its connect timer is 1 s): gobgpd 4.8 waits 1.5-2 s before its
        // own first connect, which would dominate an agent restart (README, "Start-up").
        '--bgp.listen-port=179',
        `--bgp.peers=${JSON.stringify(peers)}`,
        ...(opts.extraArgs ?? []),
      ],
      { netns: l.lab.ns(n.name), logFile },
    );
    return { node: n.name, proc, logFile };
  });
}

/** Agent flags for a data plane: IPVS finds the node's pods through the lab's pod → netns map. */
export function dataplaneArgs(dataplane: 'nft' | 'ipvs', podNetnsFile: string): string[] {
  return dataplane === 'ipvs' ? ['--dataplane=ipvs', `--pod-netns=map:${podNetnsFile}`] : ['--dataplane=nft'];
}

/** An IPPool; `weightedEcmp` and `autoAssign` unset leave the CRD's defaults (both on). */
export async function createPool(l: RunningLab, name: string, cidr: string, opts: { weightedEcmp?: boolean; autoAssign?: boolean } = {}): Promise<void> {
  const spec: Record<string, unknown> = { cidrs: [cidr], avoidBuggyIPs: true };
  if (opts.autoAssign !== undefined) spec.autoAssign = opts.autoAssign;
  if (opts.weightedEcmp !== undefined) spec.bgp = { weightedEcmp: opts.weightedEcmp };
  await l.cluster.kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'bgpvs.io',
    version: 'v1alpha1',
    plural: 'ippools',
    body: { apiVersion: 'bgpvs.io/v1alpha1', kind: 'IPPool', metadata: { name }, spec },
  });
}

/** A LoadBalancer Service (namespace created if needed), optionally from a named pool. */
export async function createLbService(
  l: RunningLab,
  ns: string,
  name: string,
  policy: 'Local' | 'Cluster',
  port: number,
  protocol: 'TCP' | 'UDP' = 'TCP',
  opts: { pool?: string } = {},
): Promise<V1Service> {
  const core = l.cluster.kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
  return core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: { name, namespace: ns, ...(opts.pool ? { annotations: { [ANNOTATION_POOL]: opts.pool } } : {}) },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, ports: [{ name: 'p', port, targetPort: port, protocol }] },
    },
  });
}

export async function waitForIp(l: RunningLab, ns: string, name: string, timeoutMs = 30_000): Promise<string> {
  const core = l.cluster.kc.makeApiClient(CoreV1Api);
  return waitFor(`an IP for ${ns}/${name}`, async () => (await core.readNamespacedServiceStatus({ name, namespace: ns })).status?.loadBalancer?.ingress?.[0]?.ip, { timeoutMs, intervalMs: 50 });
}

/** The lab's (first) upstream router, FRR or BIRD. */
export function anyLabRouter(l: RunningLab): LabRouter {
  const r = [...l.routers.values()][0];
  if (!r) throw new BgpvsError('the lab has no router');
  return r;
}

/** The lab's (first) upstream router, which must be FRR (vtysh, FRR's JSON). */
export function labRouter(l: RunningLab): FrrRouter {
  const r = anyLabRouter(l);
  if (!(r instanceof FrrRouter)) throw new BgpvsError('this needs the lab with FRR as its router');
  return r;
}

/** A lab node's address (its Node InternalIP). */
export function nodeAddress(l: RunningLab, node: string): string {
  const n = l.cluster.nodes.find((x) => x.name === node);
  if (!n?.address) throw new BgpvsError(`no lab node ${node}`);
  return n.address;
}

/** The router's kernel next hops for a VIP (sorted). */
export async function routerNexthops(l: RunningLab, vip: string): Promise<string[]> {
  const route = await anyLabRouter(l).kernelRoute(`${vip}/32`);
  return (route?.nexthops ?? []).map((n) => n.gateway ?? '').filter(Boolean).sort();
}

export async function waitNexthops(l: RunningLab, vip: string, want: readonly string[], timeoutMs = 60_000): Promise<void> {
  const sorted = [...want].sort().join(',');
  await waitFor(`router next hops for ${vip} = [${sorted}]`, async () => ((await routerNexthops(l, vip)).join(',') === sorted ? true : undefined), { timeoutMs, intervalMs: 100 });
}

/** Wait until the client gets a first answer from VIP:port (route, nft and neighbours settled). */
export async function waitReachable(l: RunningLab, vip: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP', timeoutMs = 30_000): Promise<void> {
  await waitFor(`${protocol} ${vip}:${port} answering the client`, async () => ((await connect(l, vip, port, 1, protocol))['no answer'] ? undefined : true), { timeoutMs, intervalMs: 200 });
}

/** `count` connections from the client to VIP:port; answers counted by "pod clientIP". */
export async function connect(l: RunningLab, vip: string, port: number, count: number, protocol: 'TCP' | 'UDP' = 'TCP'): Promise<Record<string, number>> {
  const client = l.topo.nodes.find((n) => n.role === 'client')!;
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const target = protocol === 'TCP' ? `TCP:${vip}:${port},connect-timeout=2` : `UDP:${vip}:${port}`;
    // -t 3: after sending (stdin EOF) wait up to 3 s for the answer; socat's default 0.5 s
    // loses answers from a loaded lab (the responder forks and execs a shell per request).
    const r = await run(['socat', '-t', '3', '-T', '3', 'STDIO', target], { netns: l.lab.ns(client.name), allowFailure: true, input: protocol === 'UDP' ? 'x\n' : '' });
    const k = r.stdout.trim() || 'no answer';
    seen[k] = (seen[k] ?? 0) + 1;
  }
  return seen;
}

export type { LabPod };
