/**
 * What the Service model needs from the agent's config, as typed values.
 * Loading it (flags, ConfigMap, CRDs) is src/config's job; this is the shape it fills.
 */
import type { V1LabelSelector } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';
import type { ForwardingMethod, Scheduler, SchedulerFlag } from '../model/types.js';
import { parseCidrRange, type ParsedCidr } from '../model/ip.js';

/** BGP attributes for the IPs of one pool. Pools will come from CRDs; a plain list for now. */
export interface PoolAttributes {
  cidrs: readonly string[];
  communities: readonly string[];
  largeCommunities: readonly string[];
  localPref?: number;
  /** Weight ECMP by local ready endpoints (link-bandwidth) for Local-policy Services. */
  weightedEcmp: boolean;
}

/**
 * What one Service may cost this node (untrusted input: one tenant's Service must not take the
 * agent or nft over its memory limit). A Service over any cap is refused whole, with a reason.
 */
export interface ServiceLimits {
  /** Ports (spec.ports entries). */
  maxPorts: number;
  /** Virtual servers: ports × the Service's IPs. */
  maxVirtualServers: number;
  /** Table entries: ports × IPs × (Maglev buckets + source ranges). */
  maxBuckets: number;
  /** Maglev buckets per virtual server (the nft data plane's --nft.maglev-size). */
  bucketsPerVirtualServer: number;
}

export const DEFAULT_SERVICE_LIMITS: Readonly<ServiceLimits> = Object.freeze({
  maxPorts: 100,
  maxVirtualServers: 256,
  maxBuckets: 65_536,
  bucketsPerVirtualServer: 251,
});

export interface ModelConfig {
  /** spec.loadBalancerClass this agent serves. */
  loadBalancerClass: string;
  /** Whether LoadBalancer Services without a class are ours (MetalLB's and kube-router's default). */
  handleClasslessServices: boolean;
  /** Advertise every Service's ClusterIPs (else only with annotation bgpvs.io/advertise-cluster-ip: "true"). */
  advertiseClusterIPs: boolean;
  /** Advertise spec.externalIPs. */
  advertiseExternalIPs: boolean;
  /** Only nodes matching this selector announce; undefined or empty matches every node. */
  nodeSelector?: V1LabelSelector;
  defaultScheduler: Scheduler;
  /** Applies only when the scheduler is the default one (no bgpvs.io/scheduler annotation). */
  defaultSchedulerFlags: readonly SchedulerFlag[];
  defaultForwarding: ForwardingMethod;
  pools: readonly PoolAttributes[];
  limits: ServiceLimits;
}

export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  loadBalancerClass: 'bgpvs.io/bgpvs',
  handleClasslessServices: true,
  advertiseClusterIPs: false,
  advertiseExternalIPs: true,
  defaultScheduler: 'rr',
  defaultSchedulerFlags: [],
  defaultForwarding: 'nat',
  pools: [],
  limits: DEFAULT_SERVICE_LIMITS,
});

export function modelConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return { ...DEFAULT_MODEL_CONFIG, ...overrides };
}

export interface CompiledPool {
  attrs: PoolAttributes;
  cidrs: readonly ParsedCidr[];
}

/** ModelConfig with its pool CIDRs parsed once. */
export interface CompiledModelConfig {
  cfg: ModelConfig;
  pools: readonly CompiledPool[];
}

/** Parses pool CIDRs; throws ConfigError naming the pool and CIDR (config is validated at start). */
export function compileModelConfig(cfg: ModelConfig): CompiledModelConfig {
  const pools = cfg.pools.map((attrs, i) => ({
    attrs,
    cidrs: attrs.cidrs.map((c, j) => {
      const p = parseCidrRange(c);
      if (!p) throw new ConfigError(`pools[${i}].cidrs[${j}]`, `not a CIDR: ${JSON.stringify(c)}`);
      return p;
    }),
  }));
  return { cfg, pools };
}
