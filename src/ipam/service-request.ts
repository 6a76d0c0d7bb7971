/**
 * A Service → what it asks of the allocator (families, requested IPs, pool, sharing key,
 * ports), or why the allocator leaves it alone, or why its request is invalid. Pure.
 */
import type { V1Service } from '@kubernetes/client-node';
import { canonicalIp } from '../model/ip.js';
import type { IpFamily, Protocol } from '../model/types.js';

export const ANNOTATION_LB_IPS = 'bgpvs.io/loadBalancerIPs';
export const ANNOTATION_POOL = 'bgpvs.io/address-pool';
export const ANNOTATION_SHARING_KEY = 'bgpvs.io/allow-shared-ip';

export interface PortKey {
  protocol: Protocol;
  port: number;
}

export interface LbRequest {
  /** namespace/name */
  key: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** Families wanted, in the Service's order (spec.ipFamilies). */
  families: readonly IpFamily[];
  /** Whether every family must get an address (RequireDualStack) or only the first. */
  requireAll: boolean;
  /** Canonical requested IPs (at most one per family). */
  requested: readonly string[];
  pool: string | undefined;
  sharingKey: string | undefined;
  ports: readonly PortKey[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  /** Canonical IPs the Service holds now (status.loadBalancer.ingress[].ip). */
  current: readonly string[];
  /** For ordering: older Services first keep contested IPs (creationTimestamp, then uid). */
  createdAt: string;
  uid: string;
}

/** What an invalid Service still tells the allocator: enough to keep what it holds without evicting anyone. */
export interface FrozenService {
  key: string;
  namespace: string;
  ports: readonly PortKey[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  current: readonly string[];
  createdAt: string;
  uid: string;
}

export type RequestResult =
  | { kind: 'request'; request: LbRequest }
  /** Not ours to allocate: not a LoadBalancer, or another loadBalancerClass. */
  | { kind: 'ignore'; key: string; reason: 'notLoadBalancer' | 'notOurClass'; current: readonly string[] }
  | { kind: 'invalid'; key: string; message: string; current: readonly string[]; frozen: FrozenService };

export interface RequestConfig {
  loadBalancerClass: string;
  /** Serve LoadBalancer Services without a spec.loadBalancerClass. */
  handleClasslessServices: boolean;
}

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
}

/** Canonical IPs in status.loadBalancer.ingress (unparseable entries dropped). */
export function ingressIPs(svc: V1Service): string[] {
  const out: string[] = [];
  for (const i of svc.status?.loadBalancer?.ingress ?? []) {
    const c = canonicalIp(i.ip);
    if (c) out.push(c.ip);
  }
  return out;
}

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

export function serviceRequest(svc: V1Service, cfg: RequestConfig): RequestResult {
  const key = serviceKey(svc);
  const spec = svc.spec ?? {};
  if (spec.type !== 'LoadBalancer') return { kind: 'ignore', key, reason: 'notLoadBalancer', current: ingressIPs(svc) };
  const cls = spec.loadBalancerClass;
  const ours = cls === undefined || cls === '' ? cfg.handleClasslessServices : cls === cfg.loadBalancerClass;
  const current = ingressIPs(svc);
  if (!ours) return { kind: 'ignore', key, reason: 'notOurClass', current };
  const created = svc.metadata?.creationTimestamp as unknown;
  const createdAt = created instanceof Date ? created.toISOString() : typeof created === 'string' ? created : '';
  const uid = svc.metadata?.uid ?? '';
  const externalTrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const validPorts = (spec.ports ?? []).filter((p) => PROTOCOLS.includes(p.protocol ?? 'TCP')).map((p) => ({ protocol: (p.protocol ?? 'TCP') as Protocol, port: p.port }));
  const frozen: FrozenService = { key, namespace: svc.metadata?.namespace ?? '', ports: validPorts, externalTrafficPolicy, current, createdAt, uid };
  const invalid = (message: string): RequestResult => ({ kind: 'invalid', key, message, current, frozen });
  const ann = svc.metadata?.annotations ?? {};

  const families: IpFamily[] = [];
  for (const f of spec.ipFamilies ?? ['IPv4']) if ((f === 'IPv4' || f === 'IPv6') && !families.includes(f)) families.push(f);
  if (families.length === 0) return invalid(`spec.ipFamilies: no IPv4 or IPv6 in ${JSON.stringify(spec.ipFamilies)}`);

  const rawList = ann[ANNOTATION_LB_IPS];
  const rawSingle = spec.loadBalancerIP;
  if (rawList !== undefined && rawSingle) return invalid(`spec.loadBalancerIP and annotation ${ANNOTATION_LB_IPS} are both set; use one`);
  const parts = rawList !== undefined ? rawList.split(',').map((p) => p.trim()).filter((p) => p !== '') : rawSingle ? [rawSingle.trim()] : [];
  if (rawList !== undefined && parts.length === 0) return invalid(`annotation ${ANNOTATION_LB_IPS}: empty`);
  const requested: string[] = [];
  const seen = new Set<IpFamily>();
  const where = rawList !== undefined ? `annotation ${ANNOTATION_LB_IPS}` : 'spec.loadBalancerIP';
  for (const p of parts) {
    const c = canonicalIp(p);
    if (!c) return invalid(`${where}: ${JSON.stringify(p)} is not an IP address`);
    if (seen.has(c.family)) return invalid(`${where}: more than one ${c.family} address`);
    if (!families.includes(c.family)) return invalid(`${where}: ${c.ip} is ${c.family} but the Service's ipFamilies are ${families.join(',')}`);
    seen.add(c.family);
    requested.push(c.ip);
  }

  const pool = ann[ANNOTATION_POOL]?.trim();
  if (pool !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pool)) return invalid(`annotation ${ANNOTATION_POOL}: ${JSON.stringify(pool)} is not a pool name`);
  const sharingKey = ann[ANNOTATION_SHARING_KEY]?.trim();
  if (sharingKey !== undefined && sharingKey === '') return invalid(`annotation ${ANNOTATION_SHARING_KEY}: empty`);

  const ports: PortKey[] = [];
  for (const p of spec.ports ?? []) {
    const protocol = p.protocol ?? 'TCP';
    if (!PROTOCOLS.includes(protocol)) return invalid(`spec.ports: protocol ${protocol} is not supported`);
    ports.push({ protocol: protocol as Protocol, port: p.port });
  }
  return {
    kind: 'request',
    request: {
      key,
      namespace: svc.metadata?.namespace ?? '',
      labels: svc.metadata?.labels ?? {},
      families,
      requireAll: spec.ipFamilyPolicy === 'RequireDualStack',
      requested,
      pool: pool || undefined,
      sharingKey,
      ports,
      externalTrafficPolicy,
      current,
      createdAt,
      uid,
    },
  };
}
