/** Literal Services and pools for the ipam unit tests. */
import type { V1Service } from '@kubernetes/client-node';
import { allocate, type AllocationResult } from '../../src/ipam/allocator.js';
import { parsePools } from '../../src/ipam/pools.js';
import type { IPPoolObject } from '../../src/model/ip-pool.js';
import { serviceRequest } from '../../src/ipam/service-request.js';

export interface SvcOpts {
  ns?: string;
  type?: string;
  cls?: string;
  lbIP?: string;
  ips?: string;
  pool?: string;
  share?: string;
  ports?: [number, string?][];
  families?: ('IPv4' | 'IPv6')[];
  policy?: string;
  etp?: 'Cluster' | 'Local';
  status?: string[];
  labels?: Record<string, string>;
  created?: string;
  uid?: string;
}

export function svc(name: string, o: SvcOpts = {}): V1Service {
  const annotations: Record<string, string> = {};
  if (o.ips !== undefined) annotations['bgpvs.io/loadBalancerIPs'] = o.ips;
  if (o.pool !== undefined) annotations['bgpvs.io/address-pool'] = o.pool;
  if (o.share !== undefined) annotations['bgpvs.io/allow-shared-ip'] = o.share;
  return {
    metadata: { name, namespace: o.ns ?? 'default', annotations, labels: o.labels ?? {}, creationTimestamp: (o.created ?? '2026-01-01T00:00:00Z') as unknown as Date, ...(o.uid ? { uid: o.uid } : {}) },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.cls ? { loadBalancerClass: o.cls } : {}),
      ...(o.lbIP ? { loadBalancerIP: o.lbIP } : {}),
      ipFamilies: o.families ?? ['IPv4'],
      ipFamilyPolicy: o.policy ?? 'SingleStack',
      externalTrafficPolicy: o.etp ?? 'Cluster',
      ports: (o.ports ?? [[80]]).map(([port, protocol]) => ({ port, protocol: protocol ?? 'TCP' })),
    },
    status: { loadBalancer: { ingress: (o.status ?? []).map((ip) => ({ ip })) } },
  };
}

export function pool(name: string, spec: NonNullable<IPPoolObject['spec']>): IPPoolObject {
  return { metadata: { name }, spec };
}

export const cfg = { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true };

export function run(pools: IPPoolObject[], services: V1Service[], ns: Record<string, Record<string, string>> = {}): AllocationResult {
  return allocate({ pools: parsePools(pools).pools, services: services.map((s) => serviceRequest(s, cfg)), namespaceLabels: new Map(Object.entries(ns)) });
}

/** key → "ip,ip" or "!reason" */
export function summary(r: AllocationResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of r.services) out[s.key.replace(/^default\//, '')] = s.failure ? `!${s.failure.reason}${s.ips.length ? ` ${s.ips.join(',')}` : ''}` : s.ips.join(',');
  return out;
}
