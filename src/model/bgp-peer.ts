/** The BGPPeer custom resource as the API serves it (daemonset/crds/bgppeer.yaml): plain types. */
import type { V1LabelSelector } from '@kubernetes/client-node';

export const BGPPEER_GROUP = 'bgpvs.io';
export const BGPPEER_VERSION = 'v1alpha1';
export const BGPPEER_PLURAL = 'bgppeers';

/** A BGPPeer object as the API returns it (daemonset/crds/bgppeer.yaml). */
export interface BGPPeerObject {
  metadata?: { name?: string; generation?: number; resourceVersion?: string };
  spec?: {
    address?: string;
    asn?: number;
    localASN?: number;
    port?: number;
    passwordSecretRef?: { name?: string; namespace?: string; key?: string };
    holdTimeSeconds?: number;
    keepaliveSeconds?: number;
    bfd?: { enabled?: boolean; minRxMs?: number; minTxMs?: number; multiplier?: number };
    ebgpMultihop?: number;
    sourceAddress?: string;
    nodeSelector?: V1LabelSelector;
    gracefulRestart?: { enabled?: boolean; restartTimeSeconds?: number };
    families?: string[];
  };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }[] };
}
