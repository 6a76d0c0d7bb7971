/**
 * Plain data shared by the pure core and the adapters. No behaviour here.
 * IP addresses are canonical strings (ipaddr.js `toString()` of a parsed address).
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IpFamily = 'IPv4' | 'IPv6';
export type ForwardingMethod = 'tunnel' | 'dr' | 'nat';
export type Scheduler = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh' | 'mh';
/** IPVS scheduler flags (sh/mh): flag-1 fallback, flag-2 port. */
export type SchedulerFlag = 'mh-fallback' | 'mh-port' | 'sh-fallback' | 'sh-port';

export interface RealServer {
  address: string;
  port: number;
  /** 0 drains (terminating endpoint still serving). */
  weight: number;
  /** Node the endpoint runs on, when known. */
  nodeName?: string;
  /** The Pod behind the endpoint ("namespace/name", from its targetRef), when known: DSR into pods needs it. */
  pod?: string;
  /** Set on weight-0 entries kept only so their connections finish. */
  terminating?: boolean;
}

/** Identity of a virtual server: one (VIP, protocol, port). */
export interface VirtualServerKey {
  vip: string;
  protocol: Protocol;
  port: number;
}

export interface VirtualServer extends VirtualServerKey {
  family: IpFamily;
  scheduler: Scheduler;
  schedulerFlags: readonly SchedulerFlag[];
  /** Persistence (sessionAffinity ClientIP) timeout in seconds; 0 = none. */
  persistenceSeconds: number;
  forwarding: ForwardingMethod;
  realServers: readonly RealServer[];
  /** Services (namespace/name) that want this virtual server. */
  services: readonly string[];
  /**
   * Clients allowed to reach it (spec.loadBalancerSourceRanges, canonical CIDRs of the VIP's
   * family); absent: every client. Set only on LoadBalancer VIPs, never on ClusterIPs.
   */
  sourceRanges?: readonly string[];
}

export interface BgpCommunities {
  /** Standard communities "ASN:VALUE". */
  communities: readonly string[];
  /** Large communities "GLOBAL:LOCAL1:LOCAL2". */
  largeCommunities: readonly string[];
  localPref?: number;
}

/** One prefix (/32 or /128) this node announces. */
export interface Advertisement extends BgpCommunities {
  /** CIDR, e.g. "192.0.2.10/32" or "2001:db8::10/128". */
  prefix: string;
  family: IpFamily;
  /** Services (namespace/name) that want it; withdrawn when the last one goes. */
  services: readonly string[];
  /** Ready local endpoints behind this VIP on this node (for link-bandwidth weighting). */
  localReadyEndpoints: number;
  /** Whether weighted ECMP (link-bandwidth) applies to this prefix. */
  weighted: boolean;
}

export type SkipReason =
  | 'headless'
  | 'externalName'
  | 'notLoadBalancer'
  | 'notOurClass'
  | 'noIngressIP'
  | 'noLocalReadyEndpoints'
  | 'noReadyEndpoints'
  | 'nodeNotEligible'
  /** An address in the Service's spec or status that does not parse as an IP. */
  | 'invalidIP'
  | `invalidAnnotation: ${string}`
  /** An entry of spec.loadBalancerSourceRanges that is not a CIDR. */
  | `invalidSourceRange: ${string}`
  /** Over a per-Service cap (ports, ports × IPs, ports × IPs × Maglev buckets): refused whole. */
  | `serviceTooLarge: ${string}`;

/** Why each of a Service's IPs is, or is not, advertised by this node. */
export interface ServiceDecision {
  service: string;
  ip?: string;
  advertised: boolean;
  reason?: SkipReason;
  /** Non-fatal notes, e.g. "dsrPortRemap: fell back to nat". */
  notes?: readonly string[];
}

export interface NodeDesiredState {
  virtualServers: readonly VirtualServer[];
  advertisements: readonly Advertisement[];
  decisions: readonly ServiceDecision[];
}
