/**
 * spec.externalIPs are written by whoever may edit a Service, and kube-proxy programs them
 * blindly (CVE-2020-8554). bgpvs serves an externalIP only when all of these hold:
 *   - it is not any other Service's LoadBalancer ingress address, a node's address or a
 *     ClusterIP;
 *   - it lies inside the operator's allow-list (--service.external-ip-cidrs; empty: none);
 *   - it is not an address bgpvs hands out (inside an IP pool), unless its own LB address;
 *   - no older Service (creationTimestamp, then uid) already serves it on a common port.
 * Anything else is refused: not programmed, not advertised. Every node and the IPAM leader
 * (which writes the Warning Events) compute the same answer from the same objects. Pure.
 */
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { canonicalIp, cidrContains, type ParsedCidr } from '../model/ip.js';

export type ExternalIpRefusal = 'invalidIP' | 'notAllowed' | 'poolAddress' | 'loadBalancerIP' | 'nodeAddress' | 'clusterIP' | 'portInUse';

export interface ExternalIpVerdict {
  /** Canonical externalIPs the Service may use, in its order. */
  accepted: readonly string[];
  refused: readonly { ip: string; reason: ExternalIpRefusal; message: string }[];
}

export interface ExternalIpInput {
  services: readonly V1Service[];
  nodes: readonly V1Node[];
  /** The valid IP pools' CIDRs. */
  poolCidrs: readonly ParsedCidr[];
  /** The operator's allow-list. */
  allowed: readonly ParsedCidr[];
}

/** Longest externalIP text echoed into an Event (the rest is the tenant's). */
const MAX_ECHO = 64;
const echo = (s: string) => JSON.stringify(s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}…` : s);

const keyOf = (s: V1Service) => `${s.metadata?.namespace ?? 'default'}/${s.metadata?.name ?? ''}`;

function created(s: V1Service): string {
  const t = s.metadata?.creationTimestamp as unknown;
  return t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : '';
}

/** Older first: creationTimestamp, then uid, then namespace/name. */
export function olderFirst(a: V1Service, b: V1Service): number {
  const ka = [created(a), a.metadata?.uid ?? '', keyOf(a)];
  const kb = [created(b), b.metadata?.uid ?? '', keyOf(b)];
  for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  return 0;
}

const portsOf = (s: V1Service) => (s.spec?.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`);

/** Per Service that lists externalIPs (by namespace/name): what it may use and what not, with why. */
export function checkExternalIps(input: ExternalIpInput): Map<string, ExternalIpVerdict> {
  const out = new Map<string, ExternalIpVerdict>();
  const listing = input.services.filter((s) => (s.spec?.externalIPs ?? []).length > 0 && s.spec?.type !== 'ExternalName').sort(olderFirst);
  if (listing.length === 0) return out;
  const lbOwner = new Map<string, string>();
  const clusterIps = new Set<string>();
  for (const s of input.services) {
    for (const i of s.status?.loadBalancer?.ingress ?? []) {
      const c = canonicalIp(i.ip);
      if (c && !lbOwner.has(c.ip)) lbOwner.set(c.ip, keyOf(s));
    }
    for (const ip of s.spec?.clusterIPs?.length ? s.spec.clusterIPs : s.spec?.clusterIP ? [s.spec.clusterIP] : []) {
      const c = canonicalIp(ip);
      if (c) clusterIps.add(c.ip);
    }
  }
  const nodeIps = new Set<string>();
  for (const n of input.nodes) {
    for (const a of n.status?.addresses ?? []) {
      const c = a.type === 'InternalIP' || a.type === 'ExternalIP' ? canonicalIp(a.address) : undefined;
      if (c) nodeIps.add(c.ip);
    }
  }
  /** ip → protocol/port → the Service serving it. */
  const claims = new Map<string, Map<string, string>>();
  for (const s of listing) {
    const key = keyOf(s);
    const accepted: string[] = [];
    const refused: { ip: string; reason: ExternalIpRefusal; message: string }[] = [];
    const refuse = (ip: string, reason: ExternalIpRefusal, why: string) => refused.push({ ip, reason, message: `spec.externalIPs ${ip}: ${why}` });
    const ports = portsOf(s);
    // The Event lands in this Service's namespace: another namespace's Service is not named.
    const ns = s.metadata?.namespace ?? 'default';
    const nameFor = (k: string) => (k.startsWith(`${ns}/`) ? k : 'a Service of another namespace');
    for (const raw of s.spec?.externalIPs ?? []) {
      const c = canonicalIp(raw.trim());
      if (!c) {
        refuse(echo(raw), 'invalidIP', 'not an IP address');
        continue;
      }
      const ip = c.ip;
      if (accepted.includes(ip) || refused.some((r) => r.ip === ip)) continue;
      const owner = lbOwner.get(ip);
      if (owner !== undefined && owner !== key) {
        refuse(ip, 'loadBalancerIP', `is the LoadBalancer address of ${nameFor(owner)}`);
        continue;
      }
      if (owner === undefined && input.poolCidrs.some((p) => cidrContains(p, c))) {
        refuse(ip, 'poolAddress', 'is inside an IP pool: those addresses are handed out by bgpvs to LoadBalancer Services');
        continue;
      }
      if (nodeIps.has(ip)) {
        refuse(ip, 'nodeAddress', 'is a node\'s address');
        continue;
      }
      if (clusterIps.has(ip)) {
        refuse(ip, 'clusterIP', 'is a ClusterIP');
        continue;
      }
      if (!input.allowed.some((a) => cidrContains(a, c))) {
        refuse(ip, 'notAllowed', input.allowed.length === 0 ? 'externalIPs are off (the operator allows none: --service.external-ip-cidrs)' : 'outside the CIDRs the operator allows (--service.external-ip-cidrs)');
        continue;
      }
      const held = claims.get(ip) ?? new Map<string, string>();
      const clash = ports.find((p) => held.has(p) && held.get(p) !== key);
      if (clash !== undefined) {
        refuse(ip, 'portInUse', `${clash} is already served there for ${nameFor(held.get(clash) ?? '')}, which is older`);
        continue;
      }
      for (const p of ports) held.set(p, key);
      claims.set(ip, held);
      accepted.push(ip);
    }
    out.set(key, { accepted, refused });
  }
  return out;
}

/**
 * The Services with their spec.externalIPs cut to what `verdicts` accepts. An unchanged
 * Service is passed through as the same object; a cut one is a copy, memoised in `memo` per
 * original object, so an incremental model builder sees a new object only when either changes.
 */
export function withCheckedExternalIps(
  services: readonly V1Service[],
  verdicts: ReadonlyMap<string, ExternalIpVerdict>,
  memo: WeakMap<V1Service, { accepted: string; svc: V1Service }> = new WeakMap(),
): V1Service[] {
  return services.map((s) => {
    const v = verdicts.get(keyOf(s));
    if (!v || v.refused.length === 0) return s;
    const accepted = v.accepted.join(',');
    const m = memo.get(s);
    if (m && m.accepted === accepted) return m.svc;
    const svc: V1Service = { ...s, spec: { ...s.spec, externalIPs: [...v.accepted] } as V1Service['spec'] };
    memo.set(s, { accepted, svc });
    return svc;
  });
}
