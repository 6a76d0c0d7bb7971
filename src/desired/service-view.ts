/**
 * One Service and its EndpointSlices → a node-independent view: the IPs we act on (with the
 * traffic policy that governs each), its ports with backends resolved through the slices'
 * ports, and its settings. Pure: no clock, env or I/O; never throws on bad input.
 */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { ForwardingMethod, IpFamily, Protocol, SkipReason } from '../model/types.js';
import { parseServiceSettings, type ServiceSettings } from './annotations.js';
import type { ModelConfig } from './config.js';
import { canonicalCidr, canonicalIp, parseCidrRange, type CanonicalIp } from '../model/ip.js';
import { clip, quote } from '../util/text.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

export type IpSource = 'loadBalancer' | 'external' | 'cluster';
export type TrafficPolicy = 'Cluster' | 'Local';

export interface ViewIp extends CanonicalIp {
  source: IpSource;
  /** externalTrafficPolicy for LoadBalancer and external IPs, internalTrafficPolicy for ClusterIPs. */
  policy: TrafficPolicy;
}

export interface ViewBackend {
  address: string;
  family: IpFamily;
  /** The targetPort resolved through the slice's ports. */
  port: number;
  nodeName?: string;
  /** "namespace/name" of the endpoint's targetRef when it is a Pod. */
  pod?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ViewPort {
  name: string;
  protocol: Protocol;
  port: number;
  backends: readonly ViewBackend[];
}

export interface ServiceView {
  /** namespace/name */
  key: string;
  ips: readonly ViewIp[];
  /** IPs seen but not acted on, with why (another class's ingress, unparsable). */
  ignored: readonly { ip: string; reason: SkipReason }[];
  ports: readonly ViewPort[];
  scheduler: ServiceSettings['scheduler'];
  schedulerFlags: ServiceSettings['schedulerFlags'];
  forwarding: ForwardingMethod;
  persistenceSeconds: number;
  /**
   * spec.loadBalancerSourceRanges as canonical CIDRs (LoadBalancer Services only); empty: every
   * client may connect. Applies to the Service's loadBalancer IPs only.
   */
  sourceRanges: readonly string[];
  notes: readonly string[];
}

/** A Service we do not act on at all, with the IPs it would have had. */
export interface ServiceSkip {
  key: string;
  reason: SkipReason;
  ips: readonly string[];
  notes: readonly string[];
}

export type ViewResult = { kind: 'view'; view: ServiceView } | { kind: 'skip'; skip: ServiceSkip };

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/** The Service (namespace/name) an EndpointSlice belongs to, or undefined (not a Service's slice). */
export function sliceServiceKey(slice: V1EndpointSlice): string | undefined {
  const name = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
  return name ? `${slice.metadata?.namespace ?? 'default'}/${name}` : undefined;
}

const isDsr = (f: ForwardingMethod) => f === 'tunnel' || f === 'dr';

function sliceFamily(addressType: string): IpFamily | undefined {
  return addressType === 'IPv4' || addressType === 'IPv6' ? addressType : undefined;
}

/** Backends for one Service port: each slice's port with the same name and protocol gives the number. */
function resolveBackends(name: string, protocol: Protocol, slices: readonly V1EndpointSlice[]): ViewBackend[] {
  const out: ViewBackend[] = [];
  for (const slice of slices) {
    const family = sliceFamily(slice.addressType);
    if (!family) continue; // FQDN slices carry no IPs
    const sp = slice.ports?.find((p) => (p.name ?? '') === name && (p.protocol ?? 'TCP') === protocol);
    const port = sp?.port;
    if (port === undefined || port < 1 || port > 65535) continue;
    for (const ep of slice.endpoints ?? []) {
      // kube-proxy uses the first address; the API says the rest are fungible with it.
      const ip = canonicalIp(ep.addresses?.[0]);
      if (!ip || ip.family !== family) continue;
      const c = ep.conditions ?? {};
      const terminating = c.terminating ?? false;
      // Per the API: unset ready means ready; unset serving means equal to ready.
      const ready = (c.ready ?? true) && !terminating;
      const serving = c.serving ?? c.ready ?? true;
      const ref = ep.targetRef;
      const pod = ref?.kind === 'Pod' && ref.name ? { pod: `${ref.namespace ?? slice.metadata?.namespace ?? 'default'}/${ref.name}` } : {};
      out.push({ address: ip.ip, family, port, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}), ...pod, ready, serving, terminating });
    }
  }
  return out;
}

function candidateIps(svc: V1Service, cfg: ModelConfig, advertiseClusterIPs: boolean) {
  const spec = svc.spec ?? {};
  const ips: ViewIp[] = [];
  const ignored: { ip: string; reason: SkipReason }[] = [];
  const seen = new Set<string>();
  const ext: TrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const int: TrafficPolicy = spec.internalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const add = (raw: string | undefined, source: IpSource, policy: TrafficPolicy, ours: boolean) => {
    if (raw === undefined || raw === '') return;
    const ip = canonicalIp(raw.trim());
    if (!ip) {
      ignored.push({ ip: clip(raw, 64), reason: 'invalidIP' });
      return;
    }
    if (seen.has(ip.ip)) return;
    seen.add(ip.ip);
    if (ours) ips.push({ ...ip, source, policy });
    else ignored.push({ ip: ip.ip, reason: 'notOurClass' });
  };
  const isLb = spec.type === 'LoadBalancer';
  const cls = spec.loadBalancerClass;
  const ourClass = cls === undefined || cls === '' ? cfg.handleClasslessServices : cls === cfg.loadBalancerClass;
  if (isLb) for (const ing of svc.status?.loadBalancer?.ingress ?? []) add(ing.ip, 'loadBalancer', ext, ourClass);
  if (cfg.advertiseExternalIPs) for (const ip of spec.externalIPs ?? []) add(ip, 'external', ext, true);
  if (advertiseClusterIPs) {
    const cips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    for (const ip of cips) add(ip, 'cluster', int, true);
  }
  const fallback: SkipReason = !isLb ? 'notLoadBalancer' : ourClass ? 'noIngressIP' : 'notOurClass';
  return { ips, ignored, fallback };
}

export function buildServiceView(svc: V1Service, slices: readonly V1EndpointSlice[], cfg: ModelConfig): ViewResult {
  const key = serviceKey(svc);
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return { kind: 'skip', skip: { key, reason: 'externalName', ips: [], notes: [] } };
  if (spec.clusterIP === 'None' || spec.clusterIPs?.[0] === 'None') return { kind: 'skip', skip: { key, reason: 'headless', ips: [], notes: [] } };

  const parsed = parseServiceSettings(svc.metadata?.annotations, cfg);
  if (!parsed.ok) {
    const { ips, fallback } = candidateIps(svc, cfg, cfg.advertiseClusterIPs);
    // Another class's Service is not ours to judge: report it as such, not its annotations.
    if (ips.length === 0 && fallback === 'notOurClass') return { kind: 'skip', skip: { key, reason: fallback, ips: [], notes: [] } };
    return { kind: 'skip', skip: { key, reason: parsed.reason, ips: ips.map((i) => i.ip), notes: [] } };
  }
  const settings = parsed.settings;
  const { ips, ignored, fallback } = candidateIps(svc, cfg, settings.advertiseClusterIPs);
  if (ips.length === 0 && ignored.length === 0) return { kind: 'skip', skip: { key, reason: fallback, ips: [], notes: [] } };

  const ranges = sourceRanges(spec);
  const skipWith = (reason: SkipReason): ViewResult => ({ kind: 'skip', skip: { key, reason, ips: ips.map((i) => i.ip), notes: [] } });
  if (!ranges.ok) return skipWith(ranges.reason);
  const tooLarge = overLimits((spec.ports ?? []).length, ips.length, ranges.cidrs.length, cfg);
  if (tooLarge) return skipWith(tooLarge);

  const notes: string[] = [];
  const ports: ViewPort[] = [];
  for (const sp of spec.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    if (!PROTOCOLS.includes(protocol)) {
      notes.push(`unsupportedProtocol: ${protocol}/${sp.port}`);
      continue;
    }
    const name = sp.name ?? '';
    ports.push({ name, protocol: protocol as Protocol, port: sp.port, backends: resolveBackends(name, protocol as Protocol, slices) });
  }

  let forwarding = settings.forwarding;
  if (isDsr(forwarding)) {
    const remaps: string[] = [];
    for (const sp of spec.ports ?? []) {
      const vp = ports.find((p) => p.name === (sp.name ?? '') && p.protocol === (sp.protocol ?? 'TCP'));
      if (!vp) continue;
      const targets = new Set<number | string>();
      if (typeof sp.targetPort === 'number' && sp.targetPort !== sp.port) targets.add(sp.targetPort);
      for (const b of vp.backends) if (b.port !== sp.port) targets.add(b.port);
      if (targets.size > 0) remaps.push(`${vp.protocol}/${sp.port} → ${[...targets].sort().join(',')}`);
    }
    if (remaps.length > 0) {
      notes.push(`dsrPortRemap: ${forwarding} cannot remap ports (${remaps.join('; ')}); forwarding nat`);
      forwarding = 'nat';
    }
  }

  const persistenceSeconds =
    spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : 0;

  return {
    kind: 'view',
    view: {
      key,
      ips,
      ignored,
      ports,
      scheduler: settings.scheduler,
      schedulerFlags: settings.schedulerFlags,
      forwarding,
      persistenceSeconds,
      sourceRanges: ranges.cidrs,
      notes,
    },
  };
}

/** spec.loadBalancerSourceRanges (LoadBalancer only) → canonical CIDRs, or the first bad entry. */
function sourceRanges(spec: NonNullable<V1Service['spec']>): { ok: true; cidrs: string[] } | { ok: false; reason: SkipReason } {
  if (spec.type !== 'LoadBalancer') return { ok: true, cidrs: [] };
  const cidrs = new Set<string>();
  for (const raw of spec.loadBalancerSourceRanges ?? []) {
    const c = typeof raw === 'string' ? canonicalCidr(raw) : undefined;
    if (!c) return { ok: false, reason: `invalidSourceRange: ${quote(String(raw))} is not a CIDR` };
    cidrs.add(c.cidr);
  }
  // An nft interval set refuses overlapping elements: keep only the ranges no other one covers.
  const parsed = [...cidrs].map((c) => ({ c, p: parseCidrRange(c)! }));
  const covered = (x: (typeof parsed)[number]) =>
    parsed.some((y) => y !== x && y.p.family === x.p.family && y.p.range[1] <= x.p.range[1] && x.p.range[0].match(y.p.range));
  return { ok: true, cidrs: parsed.filter((x) => !covered(x)).map((x) => x.c).sort() };
}

/**
 * The cost caps (ModelConfig.limits), checked before any backend is resolved: a Service over
 * one costs the node nothing but this check.
 */
export function overLimits(ports: number, ips: number, ranges: number, cfg: ModelConfig): SkipReason | undefined {
  const l = cfg.limits;
  if (ports > l.maxPorts) return `serviceTooLarge: ${ports} ports, the limit is ${l.maxPorts} (--service.max-ports)`;
  const vs = ports * ips;
  if (vs > l.maxVirtualServers) return `serviceTooLarge: ${ports} ports × ${ips} IPs = ${vs} virtual servers, the limit is ${l.maxVirtualServers} (--service.max-virtual-servers)`;
  const buckets = vs * (l.bucketsPerVirtualServer + ranges);
  if (buckets > l.maxBuckets) return `serviceTooLarge: ${vs} virtual servers × (${l.bucketsPerVirtualServer} buckets + ${ranges} source ranges) = ${buckets} entries, the limit is ${l.maxBuckets} (--service.max-buckets)`;
  return undefined;
}
