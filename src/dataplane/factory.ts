/**
 * The one place that knows the data-plane implementations: config + detection → a DataPlane.
 * The agent receives the result and never learns which one it drives.
 */
import type { Runner } from '../exec/run.js';
import type { Logger } from '../observability/logger.js';
import type { PodNetnsSource } from '../config/config.js';
import type { DataPlane, DataPlaneName } from './types.js';
import { NftDataPlane } from './nft/adapter.js';
import { clusterContextResolver } from './nft/cluster-dsr.js';
import { IpvsNodeDataPlane } from './ipvs/node-dataplane.js';
import { CrictlNetnsResolver, FileNetnsResolver, type PodNetnsResolver } from './vip/pod-dsr.js';

export interface DataPlaneDeps {
  run: Runner;
  logger: Logger;
  nodeName: string;
  podNetns: PodNetnsSource;
  /** nft, Cluster policy: node-level DSR (default) or masquerade only. */
  nftClusterMode?: 'dsr' | 'masquerade';
  /** nft: Maglev buckets per virtual server (default DEFAULT_BUCKETS). */
  nftMaglevSize?: number;
  /** This node's address (nft Cluster DSR: the interface holding it is the uplink). */
  nodeAddress?: string;
}

/** Pure: the pod-netns resolver a source names (undefined: no DSR into pods). */
export function podResolverFor(src: PodNetnsSource, run: Runner): PodNetnsResolver | undefined {
  switch (src.kind) {
    case 'none':
      return undefined;
    case 'map':
      return new FileNetnsResolver(src.path);
    case 'crictl':
      return new CrictlNetnsResolver(run);
  }
}

export function createDataPlane(name: DataPlaneName, d: DataPlaneDeps): DataPlane {
  if (name === 'nft') {
    // Cluster DSR learns where the other nodes are from each pass's DataPlaneContext.
    const dsr = (d.nftClusterMode ?? 'dsr') === 'dsr' && d.nodeAddress;
    const clusterContext = dsr ? clusterContextResolver({ run: d.run, nodeName: d.nodeName, nodeAddress: d.nodeAddress! }) : undefined;
    return new NftDataPlane({ run: d.run, logger: d.logger, nodeName: d.nodeName, ...(d.nftMaglevSize ? { buckets: d.nftMaglevSize } : {}), ...(clusterContext ? { clusterContext } : {}) });
  }
  const podResolver = podResolverFor(d.podNetns, d.run);
  return new IpvsNodeDataPlane({ run: d.run, logger: d.logger, nodeName: d.nodeName, ...(podResolver ? { podResolver } : {}) });
}
