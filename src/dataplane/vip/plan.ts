/** Pure: which VIP addresses to add to / remove from an interface, from `ip -j addr show` output. */
import { canonicalIp } from '../../model/ip.js';

interface IpJsonAddr {
  ifname?: string;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/** `ip -j addr show dev X` → host addresses (canonical) on that interface. */
export function parseIpAddrJson(json: string): string[] {
  const trimmed = json.trim();
  if (trimmed === '') return [];
  const links = JSON.parse(trimmed) as IpJsonAddr[];
  const out: string[] = [];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const ip = canonicalIp(a.local);
      if (!ip) continue;
      const host = ip.family === 'IPv4' ? 32 : 128;
      if (a.prefixlen === host) out.push(ip.ip);
    }
  }
  return out;
}

export interface LinkAddrs {
  /** Administratively up (flag UP). */
  up: boolean;
  /** Host addresses (/32, /128), canonical. */
  addrs: string[];
}

/** `ip -j addr show` (every link) → per interface name: up or not, and its host addresses. */
export function parseIpAddrJsonByLink(json: string): Map<string, LinkAddrs> {
  const out = new Map<string, LinkAddrs>();
  const trimmed = json.trim();
  if (trimmed === '') return out;
  for (const l of JSON.parse(trimmed) as IpJsonAddr[]) {
    if (!l.ifname) continue;
    out.set(l.ifname, { up: (l.flags ?? []).includes('UP'), addrs: parseIpAddrJson(JSON.stringify([l])) });
  }
  return out;
}

export interface VipPlan {
  add: string[];
  remove: string[];
}

/** `keep` filters which present addresses are ours to remove (e.g. not the pod's own IP). */
export function planVips(wanted: Iterable<string>, present: Iterable<string>, keep: (ip: string) => boolean = () => false): VipPlan {
  const w = new Set<string>();
  for (const v of wanted) {
    const ip = canonicalIp(v);
    if (ip) w.add(ip.ip);
  }
  const p = new Set(present);
  return {
    add: [...w].filter((v) => !p.has(v)).sort(),
    remove: [...p].filter((v) => !w.has(v) && !keep(v)).sort(),
  };
}

export function hostCidr(ip: string): string {
  return `${ip}/${ip.includes(':') ? 128 : 32}`;
}
