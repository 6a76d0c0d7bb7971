/**
 * The lab, brought up from lab/bgpvs.clab.yml with network namespaces: nodes, router(s) and
 * client as the topology says, the real API server (bridged into every node), the routers'
 * FRR from the topology-derived config, Node objects and the pod network. `bgpvs lab run`
 * holds it until SIGTERM; `lab up` starts that in the background and waits for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { NetLab } from '../test/rig/netns.js';
import { FrrRouter } from '../test/rig/frr-router.js';
import { BirdRouter } from '../test/rig/bird-router.js';
import { repoRoot } from '../test/rig/paths.js';
import { buildTopology } from './build.js';
import { LabCluster } from './cluster.js';
import { labBirdConfig, labRouterConfig } from './router-config.js';
import { parseTopology, type LabTopology } from './topology.js';

/** FRR (the default) or BIRD 2 as every router of the topology. */
export type LabRouterKind = 'frr' | 'bird';
export type LabRouter = FrrRouter | BirdRouter;

export interface RunningLab {
  topo: LabTopology;
  lab: NetLab;
  cluster: LabCluster;
  routerKind: LabRouterKind;
  routers: Map<string, LabRouter>;
  stop(): Promise<void>;
}

export const DEFAULT_TOPOLOGY = join(repoRoot, 'lab', 'bgpvs.clab.yml');

/** `apiReadyTimeoutMs`: time allowed for etcd and the API server to come up (slow machines, the IPVS VM). */
export async function startLab(opts: { topologyFile?: string; dir: string; logger: Logger; apiReadyTimeoutMs?: number; router?: LabRouterKind }): Promise<RunningLab> {
  const routerKind = opts.router ?? 'frr';
  const topo = parseTopology(readFileSync(opts.topologyFile ?? DEFAULT_TOPOLOGY, 'utf8'));
  const log = opts.logger;
  const lab = await NetLab.create('lab', { logger: log });
  const routers = new Map<string, LabRouter>();
  let cluster: LabCluster | undefined;
  const stop = async () => {
    for (const r of routers.values()) await r.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await lab.destroy();
  };
  try {
    await buildTopology(lab, topo);
    log.info({ namespaces: [...lab.namespaces.values()] }, 'lab topology built');
    cluster = await LabCluster.start(lab, topo, { dir: opts.dir, logger: log, ...(opts.apiReadyTimeoutMs ? { apiReadyTimeoutMs: opts.apiReadyTimeoutMs } : {}) });
    log.info({ url: cluster.api.url, kubeconfig: cluster.api.kubeconfigPath }, 'API server ready');
    for (const r of topo.nodes.filter((n) => n.role === 'router')) {
      if (routerKind === 'bird') routers.set(r.name, await BirdRouter.start({ lab, ns: r.name, config: labBirdConfig(topo, r.name) }));
      else routers.set(r.name, await FrrRouter.start({ lab, ns: r.name, config: labRouterConfig(topo, r.name) }));
      log.info({ router: r.name, kind: routerKind }, 'router started');
    }
    return { topo, lab, cluster, routerKind, routers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What runs, for `lab status` and the README's main command. */
export async function describeLab(l: RunningLab): Promise<Record<string, unknown>> {
  const routers: Record<string, unknown> = {};
  for (const [name, r] of l.routers) {
    const peers =
      r instanceof FrrRouter
        ? (await r.bgpSummary()).map((p) => `${p.address} AS${p.remoteAs} ${p.state}`)
        : (await r.bgpSummary()).map((p) => `${p.bgp?.neighborAddress ?? p.name} AS${p.bgp?.neighborAs ?? '?'} ${p.bgp?.state ?? p.state}`);
    routers[name] = { kind: r instanceof FrrRouter ? 'frr' : 'bird', asn: r.config.asn, peers };
  }
  return {
    apiServer: l.cluster.api.url,
    kubeconfig: l.cluster.api.kubeconfigPath,
    namespaces: Object.fromEntries(l.lab.namespaces),
    nodes: l.cluster.nodes.map((n) => ({ name: n.name, address: n.address, asn: n.asn, podCidr: n.podCidr })),
    routers,
  };
}
