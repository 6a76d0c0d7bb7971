/**
 * The pure step of the node pass: what one observation (the informer caches and the peers'
 * Secrets) means for this node — its virtual servers, advertisements and per-Service decisions,
 * the BGP speaker's config, and what the data plane must know besides the virtual servers.
 *
 * `planNode` is a function of its arguments. `NodePlanner` gives the same result and keeps the
 * Service model's incremental builder between passes (a memo: ~1 ms instead of ~300 ms per pass
 * at 10,000 Services); a change of the IP pools starts a new builder.
 */
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { Config } from '../config/config.js';
import type { SpeakerConfig } from '../bgp/config.js';
import type { DataPlaneContext } from '../dataplane/types.js';
import { nodeAddressesOf } from '../dataplane/nft/cluster-dsr.js';
import { ModelBuilder } from '../desired/builder.js';
import { modelConfig, type ModelConfig, type PoolAttributes, type ServiceLimits } from '../desired/config.js';
import { checkExternalIps, withCheckedExternalIps, type ExternalIpVerdict } from '../desired/external-ips.js';
import { parsePools, type PoolRules } from '../ipam/pools.js';
import { parseCidrRange, type ParsedCidr } from '../model/ip.js';
import type { NodeDesiredState } from '../model/types.js';
import type { ClusterSnapshot } from '../model/snapshot.js';
import type { SecretKeyRef } from '../model/secret-ref.js';
import { mergePeers, speakerConfigFor, type PeerSource } from './peers.js';
import { modelPools } from './pools.js';

/** What the observe step hands to the pure step. */
export interface NodeObservation {
  snapshot: ClusterSnapshot;
  /** secretKey(ref) → value, for the Secrets the peers refer to. */
  secrets: ReadonlyMap<string, string>;
}

export interface NodePlan extends NodeDesiredState {
  pools: readonly PoolAttributes[];
  dataplane: DataPlaneContext;
  /** The BGP speaker's config; `key` changes exactly when the config does. */
  speaker: { config: SpeakerConfig; key: string };
  /** Objects or settings left out, with why (logged when they change). */
  problems: readonly string[];
}

/** The peers (config and BGPPeer objects) and the Secret keys they need: the observe step reads those. */
export function peerSources(cfg: Readonly<Config>, snapshot: Pick<ClusterSnapshot, 'peers'>): { peers: PeerSource[]; problems: string[]; secretRefs: SecretKeyRef[] } {
  const { peers, problems } = mergePeers(cfg.bgp.peers, snapshot.peers);
  return {
    peers,
    problems: problems.map((p) => `BGPPeer ${p.name} ignored: ${p.reason}`),
    secretRefs: peers.flatMap((p) => (p.passwordSecret ? [p.passwordSecret] : [])),
  };
}

/** The valid IP pools as the node side needs them (CIDRs and BGP attributes), and the invalid ones. */
export function nodePools(snapshot: Pick<ClusterSnapshot, 'pools'>, rules?: PoolRules): { pools: PoolAttributes[]; problems: string[] } {
  const { pools, invalid } = parsePools(snapshot.pools, rules);
  return { pools: modelPools(pools), problems: invalid.map((p) => `IP pool ${p.name} ignored: ${p.reason}`) };
}

/** The per-Service caps, with the Maglev table size the data plane fills per virtual server. */
export function serviceLimits(cfg: Readonly<Config>): ServiceLimits {
  const s = cfg.service;
  return { maxPorts: s.maxPorts, maxVirtualServers: s.maxVirtualServers, maxBuckets: s.maxBuckets, bucketsPerVirtualServer: cfg.nft.maglevSize };
}

/** The Service model's settings from the agent's config (the node pass, and the IPAM leader's cost check). */
export function nodeModelConfig(cfg: Readonly<Config>, pools: readonly PoolAttributes[] = []): ModelConfig {
  return modelConfig({
    loadBalancerClass: cfg.service.loadBalancerClass,
    handleClasslessServices: cfg.service.handleClasslessServices,
    advertiseClusterIPs: cfg.service.advertiseClusterIPs,
    advertiseExternalIPs: cfg.service.externalIpCidrs.length > 0,
    defaultScheduler: cfg.service.defaultScheduler,
    defaultForwarding: cfg.service.defaultForwarding,
    pools,
    limits: serviceLimits(cfg),
  });
}

export function builderFor(cfg: Readonly<Config>, pools: readonly PoolAttributes[]): ModelBuilder {
  return new ModelBuilder(nodeModelConfig(cfg, pools), cfg.nodeName);
}

export function poolRules(cfg: Readonly<Config>): PoolRules {
  return { minPrefixLength: cfg.ipam.poolMinPrefixLength };
}

const parsedCidrs = (cidrs: readonly string[]): ParsedCidr[] => cidrs.flatMap((c) => parseCidrRange(c) ?? []);

/**
 * Which externalIPs each Service may use (desired/external-ips.ts): the same answer on every
 * node and in the IPAM leader, which writes the Warning Events.
 */
export function externalIpVerdicts(cfg: Readonly<Config>, snapshot: Pick<ClusterSnapshot, 'services' | 'nodes'>, pools: readonly PoolAttributes[]): Map<string, ExternalIpVerdict> {
  return checkExternalIps({ services: snapshot.services, nodes: snapshot.nodes, poolCidrs: parsedCidrs(pools.flatMap((p) => p.cidrs)), allowed: parsedCidrs(cfg.service.externalIpCidrs) });
}

/** The snapshot's Services with refused externalIPs cut out (none served when none are allowed). */
function checkedServices(cfg: Readonly<Config>, snapshot: ClusterSnapshot, pools: readonly PoolAttributes[], memo?: WeakMap<V1Service, { accepted: string; svc: V1Service }>): readonly V1Service[] {
  if (cfg.service.externalIpCidrs.length === 0) return snapshot.services;
  return withCheckedExternalIps(snapshot.services, externalIpVerdicts(cfg, snapshot, pools), memo);
}

/** Everything but the Service model, from the observation. */
function planAround(cfg: Readonly<Config>, nodeAddress: string, obs: NodeObservation): Omit<NodePlan, keyof NodeDesiredState> {
  const { snapshot, secrets } = obs;
  const pools = nodePools(snapshot, poolRules(cfg));
  const poolCidrs = pools.pools.flatMap((p) => p.cidrs);
  const sources = peerSources(cfg, snapshot);
  const node: V1Node | undefined = snapshot.nodes.find((n) => n.metadata?.name === cfg.nodeName);
  // Allowed externalIPs are announced too (each one checked by externalIpVerdicts first).
  const speaker = speakerConfigFor(cfg, nodeAddress, node, sources.peers, secrets, [...poolCidrs, ...cfg.service.externalIpCidrs]);
  return {
    pools: pools.pools,
    dataplane: { poolCidrs, nodeAddresses: nodeAddressesOf(snapshot.nodes) },
    // (JSON leaves out the link-bandwidth hook, a function of the ASN, which the key holds.)
    speaker: { config: speaker.config, key: JSON.stringify(speaker.config) },
    problems: [...pools.problems, ...sources.problems, ...speaker.problems],
  };
}

/** Services refused for their cost, one line each (logged with the other problems when they change). */
export function refusedServices(decisions: NodeDesiredState['decisions']): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const d of decisions) {
    if (d.service === last || !d.reason?.startsWith('serviceTooLarge')) continue;
    last = d.service;
    out.push(`Service ${d.service} refused: ${d.reason}`);
  }
  return out;
}

function withRefusals(state: NodeDesiredState, around: Omit<NodePlan, keyof NodeDesiredState>): NodePlan {
  const refused = refusedServices(state.decisions);
  return { ...state, ...around, ...(refused.length ? { problems: [...around.problems, ...refused] } : {}) };
}

/** Pure: the node's plan from one observation. */
export function planNode(cfg: Readonly<Config>, nodeAddress: string, obs: NodeObservation): NodePlan {
  const around = planAround(cfg, nodeAddress, obs);
  const b = builderFor(cfg, around.pools);
  b.sync({ ...obs.snapshot, services: checkedServices(cfg, obs.snapshot, around.pools) });
  return withRefusals(b.build(), around);
}

/** `planNode`, with the Service model built incrementally between passes. */
export class NodePlanner {
  private builder: ModelBuilder | undefined;
  private poolsKey: string | undefined;
  private readonly externalIpMemo = new WeakMap<V1Service, { accepted: string; svc: V1Service }>();

  constructor(
    private readonly cfg: Readonly<Config>,
    private readonly nodeAddress: string,
  ) {}

  plan(obs: NodeObservation): NodePlan {
    const around = planAround(this.cfg, this.nodeAddress, obs);
    const key = JSON.stringify(around.pools);
    if (!this.builder || key !== this.poolsKey) {
      this.builder = builderFor(this.cfg, around.pools);
      this.poolsKey = key;
    }
    this.builder.sync({ ...obs.snapshot, services: checkedServices(this.cfg, obs.snapshot, around.pools, this.externalIpMemo) });
    return withRefusals(this.builder.build(), around);
  }
}
