/** The IPPool custom resource as the API serves it (daemonset/crds/ippool.yaml): plain types. */
import type { IPPoolSpec } from './crd-schema.js';

export const IPPOOL_GROUP = 'bgpvs.io';
export const IPPOOL_VERSION = 'v1alpha1';
export const IPPOOL_PLURAL = 'ippools';

/** The IPPool object as stored (spec as the CRD schema admits it; nothing trusted). */
export interface IPPoolObject {
  metadata?: { name?: string; generation?: number; resourceVersion?: string; creationTimestamp?: Date; uid?: string };
  /** As the schema admits it (crd-schemas.generated.ts); nothing trusted: parsePool checks it again. */
  spec?: IPPoolSpec;
  status?: IPPoolStatus;
}

export interface PoolCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface IPPoolStatus {
  used?: number;
  free?: string;
  usedIPv4?: number;
  usedIPv6?: number;
  observedGeneration?: number;
  conditions?: PoolCondition[];
}
