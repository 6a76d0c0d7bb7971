/**
 * The Cluster DSR context of a pass: which device VIP traffic arrives on, and which other
 * nodes are on-link through it (so a packet can be handed to them unchanged). The device is
 * the one holding this node's address; a node is on-link when its address (InternalIP) lies in
 * one of that device's prefixes and is not ours. Any other node keeps the masquerade fallback.
 */
import type { DataPlaneContext } from '../types.js';
import ipaddr from 'ipaddr.js';
import type { V1Node } from '@kubernetes/client-node';
import type { Runner } from '../../exec/run.js';
import type { ClusterDsrContext } from './render.js';

/** One interface of `ip -j -4 addr show`. */
export interface IpAddrJson {
  ifname: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Pure: node name → its InternalIP addresses (ExternalIP when it has none), from Node objects. */
export function nodeAddressesOf(nodes: readonly V1Node[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of nodes) {
    const name = n.metadata?.name;
    if (!name) continue;
    const addrs = n.status?.addresses ?? [];
    const internal = addrs.filter((a) => a.type === 'InternalIP').map((a) => a.address);
    out.set(name, internal.length > 0 ? internal : addrs.filter((a) => a.type === 'ExternalIP').map((a) => a.address));
  }
  return out;
}

const v4 = (a: string): ipaddr.IPv4 | undefined => {
  if (!ipaddr.IPv4.isValidFourPartDecimal(a)) return undefined;
  return ipaddr.IPv4.parse(a);
};

/**
 * Pure: the context from this node's interfaces, its own name and address, and every node's
 * addresses. Undefined when this node's address is on no interface (no DSR at all).
 */
export function clusterDsrContext(ifaces: readonly IpAddrJson[], self: { name: string; address: string }, nodes: ReadonlyMap<string, readonly string[]>): ClusterDsrContext | undefined {
  const inet = (i: IpAddrJson) => (i.addr_info ?? []).filter((a) => a.family === 'inet' && a.local !== undefined && a.prefixlen !== undefined);
  const device = ifaces.find((i) => inet(i).some((a) => a.local === self.address));
  if (!device) return undefined;
  const prefixes = inet(device).map((a) => ipaddr.IPv4.parseCIDR(`${a.local!}/${a.prefixlen!}`));
  const local = new Set(ifaces.flatMap((i) => inet(i).map((a) => a.local!)));
  const out = new Map<string, string>();
  for (const [name, addrs] of [...nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name === self.name) continue;
    for (const a of addrs) {
      const ip = v4(a);
      if (!ip || local.has(ip.toString())) continue;
      if (prefixes.some((p) => ip.match(p))) {
        out.set(name, ip.toString());
        break;
      }
    }
  }
  return { device: device.ifname, nodes: out };
}

export interface ClusterResolverOptions {
  run: Runner;
  netns?: string;
  nodeName: string;
  /** This node's address: the interface holding it is the device. */
  nodeAddress: string;
  /** Every node's addresses when a pass gives none (tests); a pass's DataPlaneContext wins. */
  nodeAddresses?: () => ReadonlyMap<string, readonly string[]>;
  /** Re-read the interfaces at most this often (default 10 s). */
  cacheMs?: number;
  now?: () => number;
}

/** `NftDataPlaneOptions.clusterContext` from this node's interfaces (`ip -j -4 addr show`, cached) and the Nodes. */
export function clusterContextResolver(o: ClusterResolverOptions): (desired: unknown, pass?: DataPlaneContext) => Promise<ClusterDsrContext | undefined> {
  let cached: { at: number; ifaces: IpAddrJson[] } | undefined;
  const now = o.now ?? Date.now;
  return async (_desired, pass) => {
    if (!cached || now() - cached.at >= (o.cacheMs ?? 10_000)) {
      const res = await o.run(['ip', '-j', '-4', 'addr', 'show'], { netns: o.netns });
      cached = { at: now(), ifaces: JSON.parse(res.stdout) as IpAddrJson[] };
    }
    return clusterDsrContext(cached.ifaces, { name: o.nodeName, address: o.nodeAddress }, pass?.nodeAddresses ?? o.nodeAddresses?.() ?? new Map());
  };
}
