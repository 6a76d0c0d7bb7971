/**
 * Pure: what one node's IPVS data plane derives from its desired virtual servers — which VIPs
 * are ours, how each real server is reached, and which local pods need the VIP for DSR.
 * No process, file or clock.
 */
import { canonicalIp, cidrContains, parseCidrRange, type ParsedCidr } from '../../model/ip.js';
import type { VirtualServer } from '../../model/types.js';
import type { DesiredRealServer, VipOwnership } from './diff.js';

/**
 * The VIPs bgpvs manages on this node: every address inside the IP pools' CIDRs, plus the
 * extra addresses given (the external and cluster IPs the model emits this pass, and the
 * addresses already on bgpvs's own VIP interface, so one of those is cleaned up after its
 * Service goes). Every other virtual service (kube-proxy's, an operator's) is never touched.
 */
export function vipOwnership(poolCidrs: readonly string[], extra: Iterable<string>): VipOwnership {
  const cidrs: ParsedCidr[] = [];
  for (const c of poolCidrs) {
    const p = parseCidrRange(c);
    if (p) cidrs.push(p);
  }
  const set = new Set<string>();
  for (const e of extra) {
    const ip = canonicalIp(e);
    if (ip) set.add(ip.ip);
  }
  return {
    has(vip: string): boolean {
      const ip = canonicalIp(vip);
      if (!ip) return false;
      return set.has(ip.ip) || cidrs.some((c) => cidrContains(c, ip));
    },
  };
}

const isRemote = (nodeName: string, rs: { nodeName?: string }) => rs.nodeName !== undefined && rs.nodeName !== nodeName;

/**
 * The virtual servers as IPVS on `nodeName` should hold them. DR (`-g`) only reaches real
 * servers on this node's L2 segment, which a pod on another node is not (pod networks route
 * between nodes): those are reached by IPIP tunnel instead, still with direct return. Real
 * servers with an unknown node keep the service's method.
 */
export function ipvsVirtualServers(desired: readonly VirtualServer[], nodeName: string): VirtualServer[] {
  return desired.map((v) => {
    if (v.forwarding !== 'dr' || !v.realServers.some((rs) => isRemote(nodeName, rs))) return v;
    const realServers: DesiredRealServer[] = v.realServers.map((rs) => (isRemote(nodeName, rs) ? { ...rs, forwarding: 'tunnel' } : rs));
    return { ...v, realServers };
  });
}

/** The DSR addresses one local pod holds. */
export interface PodVips {
  /** On tunl0 (IPIP decapsulation). */
  tunnel: string[];
  /** On lo (DR). */
  dr: string[];
  /** The pod's address(es) seen in the real servers. */
  addresses: string[];
}

export interface PodDsrPlan {
  /** Pod ("namespace/name") → what it must hold; sorted. */
  pods: Map<string, PodVips>;
  /** Local DSR real servers whose endpoint names no Pod (no targetRef): DSR cannot be set up there. */
  unresolved: { vip: string; address: string }[];
}

/**
 * Which local pods need which VIPs for direct return. A pod behind a tunnel service holds
 * the VIP on tunl0; behind a DR service, on lo — and on tunl0 too, since nodes other than
 * its own reach it by tunnel (see `ipvsVirtualServers`). IPv6 VIPs are left out (IPIP is v4).
 * Weight-0 (terminating) real servers keep their VIPs until they leave the desired set.
 */
export function planPodDsr(desired: readonly VirtualServer[], nodeName: string): PodDsrPlan {
  const acc = new Map<string, { tunnel: Set<string>; dr: Set<string>; addresses: Set<string> }>();
  const unresolved: PodDsrPlan['unresolved'] = [];
  for (const v of desired) {
    if (v.forwarding === 'nat' || v.family !== 'IPv4') continue;
    for (const rs of v.realServers) {
      if (rs.nodeName !== nodeName) continue;
      if (!rs.pod) {
        unresolved.push({ vip: v.vip, address: rs.address });
        continue;
      }
      let e = acc.get(rs.pod);
      if (!e) acc.set(rs.pod, (e = { tunnel: new Set(), dr: new Set(), addresses: new Set() }));
      e.tunnel.add(v.vip);
      if (v.forwarding === 'dr') e.dr.add(v.vip);
      e.addresses.add(rs.address);
    }
  }
  const pods = new Map<string, PodVips>();
  for (const k of [...acc.keys()].sort()) {
    const e = acc.get(k)!;
    pods.set(k, { tunnel: [...e.tunnel].sort(), dr: [...e.dr].sort(), addresses: [...e.addresses].sort() });
  }
  return { pods, unresolved };
}

/**
 * The node sysctls direct return needs, per interface that leads to a local DSR pod: the
 * pod's replies come from the VIP, which is a local address of this node (on the VIP
 * interface), and the kernel drops a packet arriving with a local source address unless
 * `accept_local` is set on the interface it arrives on.
 */
export function nodeDsrSysctls(podInterfaces: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dev of [...new Set(podInterfaces)].sort()) {
    if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) continue;
    out[`net.ipv4.conf.${dev.replace(/\./g, '/')}.accept_local`] = '1';
  }
  return out;
}

/** `ip -j route get ADDR` → the output interface, or undefined. */
export function parseRouteGetDev(json: string): string | undefined {
  const t = json.trim();
  if (!t) return undefined;
  const rows = JSON.parse(t) as Array<{ dev?: string }>;
  return rows[0]?.dev;
}
