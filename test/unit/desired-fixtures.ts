/** Literal builders for Services, EndpointSlices and Nodes, and compact renderings of model output. */
import type { V1EndpointSlice, V1Node, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { NodeDesiredState } from '../../src/model/types.js';

export interface SvcOpts {
  ns?: string;
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  cls?: string;
  ingress?: string[];
  externalIPs?: string[];
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ports?: Array<Partial<V1ServicePort> & { port: number }>;
  etp?: 'Local' | 'Cluster';
  itp?: 'Local' | 'Cluster';
  annotations?: Record<string, string>;
  affinity?: number | 'default';
}

export function svc(name: string, o: SvcOpts = {}): V1Service {
  const clusterIPs = o.clusterIPs ?? [o.clusterIP ?? '10.96.0.10'];
  return {
    metadata: { namespace: o.ns ?? 'default', name, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.cls !== undefined ? { loadBalancerClass: o.cls } : {}),
      clusterIP: clusterIPs[0],
      clusterIPs,
      ...(o.ipFamilies ? { ipFamilies: o.ipFamilies } : {}),
      ...(o.externalIPs ? { externalIPs: o.externalIPs } : {}),
      ports: o.ports ?? [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }],
      ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
      ...(o.itp ? { internalTrafficPolicy: o.itp } : {}),
      ...(o.affinity !== undefined
        ? { sessionAffinity: 'ClientIP', ...(o.affinity === 'default' ? {} : { sessionAffinityConfig: { clientIP: { timeoutSeconds: o.affinity } } }) }
        : {}),
    },
    status: { loadBalancer: { ingress: (o.ingress ?? ['192.0.2.10']).map((ip) => ({ ip })) } },
  };
}

export interface EpOpts {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

/** An endpoint: "10.0.0.1@n1" ready on n1; suffix "!t" serving+terminating, "!T" terminating not serving, "!n" not ready. */
export function ep(spec: string): EpOpts {
  const [addrNode, flag] = spec.split('!');
  const [ip, node] = addrNode!.split('@');
  const o: EpOpts = { ip: ip!, ...(node ? { node } : {}) };
  if (flag === 't') Object.assign(o, { ready: false, serving: true, terminating: true });
  if (flag === 'T') Object.assign(o, { ready: false, serving: false, terminating: true });
  if (flag === 'n') Object.assign(o, { ready: false, serving: false, terminating: false });
  return o;
}

export function slice(
  service: string,
  endpoints: Array<string | EpOpts>,
  o: { ns?: string; name?: string; family?: 'IPv4' | 'IPv6' | 'FQDN'; ports?: Array<{ name?: string; port: number; protocol?: string }> } = {},
): V1EndpointSlice {
  return {
    metadata: { namespace: o.ns ?? 'default', name: o.name ?? `${service}-${o.family ?? 'IPv4'}`, labels: { 'kubernetes.io/service-name': service } },
    addressType: o.family ?? 'IPv4',
    ports: (o.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: endpoints.map((e) => {
      const x = typeof e === 'string' ? ep(e) : e;
      const conditions: Record<string, boolean> = {};
      if (x.ready !== undefined) conditions.ready = x.ready;
      if (x.serving !== undefined) conditions.serving = x.serving;
      if (x.terminating !== undefined) conditions.terminating = x.terminating;
      return { addresses: [x.ip], conditions, ...(x.node ? { nodeName: x.node } : {}) };
    }),
  };
}

export function node(name: string, o: { ready?: boolean; labels?: Record<string, string> } = {}): V1Node {
  return {
    metadata: { name, labels: o.labels ?? {} },
    status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

/** "vip proto/port sched[flags] fwd pN -> addr:port w[t]…" per virtual server. */
export function renderVs(s: NodeDesiredState): string[] {
  return s.virtualServers.map((v) => {
    const flags = v.schedulerFlags.length ? `[${v.schedulerFlags.join(',')}]` : '';
    const rs = v.realServers.map((r) => `${r.address}:${r.port}w${r.weight}${r.terminating ? 't' : ''}`).join(',');
    return `${v.vip} ${v.protocol}/${v.port} ${v.scheduler}${flags} ${v.forwarding} p${v.persistenceSeconds} -> ${rs}`;
  });
}

/** "prefix svc,svc lre=N[ w]" per advertisement. */
export function renderAds(s: NodeDesiredState): string[] {
  return s.advertisements.map((a) => `${a.prefix} ${a.services.join(',')} lre=${a.localReadyEndpoints}${a.weighted ? ' w' : ''}`);
}

/** "svc ip: advertised" or "svc ip: reason" per decision (ip "-" when none). */
export function renderDecisions(s: NodeDesiredState): string[] {
  return s.decisions.map((d) => `${d.service} ${d.ip ?? '-'}: ${d.advertised ? 'advertised' : d.reason}`);
}
