/** What one pass of the agent observes: the caches of its one informer set, as plain lists. */
import type { V1EndpointSlice, V1Namespace, V1Node, V1Service } from '@kubernetes/client-node';
import type { BGPPeerObject } from './bgp-peer.js';
import type { IPPoolObject } from './ip-pool.js';

/** What the Service model reads (desired/builder.ts). */
export interface ServiceSnapshot {
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  nodes: readonly V1Node[];
}

/** Every watched kind, listed at least once. */
export interface ClusterSnapshot extends ServiceSnapshot {
  namespaces: readonly V1Namespace[];
  pools: readonly IPPoolObject[];
  peers: readonly BGPPeerObject[];
}
