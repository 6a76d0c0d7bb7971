/**
 * Parser for `ip -j route show ...` (iproute2 JSON): kernel routes with their nexthops.
 * A single-path route carries `gateway`/`dev` at the top; a multipath route lists
 * `nexthops` with a `weight` each (the kernel's weight, 1..256; absent means 1).
 */
import { BgpvsError } from '../../../src/errors.js';

export interface KernelNexthop {
  gateway?: string;
  dev?: string;
  weight: number;
  flags: string[];
}

export interface KernelRoute {
  /** Destination as printed (`default`, `10.0.0.0/24`, or a host address without /32). */
  dst?: string;
  protocol?: string;
  metric?: number;
  /** Empty for routes without a gateway/dev (blackhole, unreachable, ...). */
  nexthops: KernelNexthop[];
  type?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function nexthop(o: Obj): KernelNexthop | undefined {
  const gateway = str(o.gateway);
  const dev = str(o.dev);
  if (gateway === undefined && dev === undefined) return undefined;
  return { ...(gateway !== undefined ? { gateway } : {}), ...(dev !== undefined ? { dev } : {}), weight: num(o.weight) ?? 1, flags: strs(o.flags) };
}

/** Parse the stdout of `ip -j route show ...` (empty output means no routes). */
export function parseIpRouteJson(text: string): KernelRoute[] {
  const t = text.trim();
  if (!t) return [];
  let data: unknown;
  try {
    data = JSON.parse(t);
  } catch (err) {
    throw new BgpvsError(`ip -j route: not JSON: ${t.slice(0, 200)}`, { cause: err });
  }
  if (!Array.isArray(data)) throw new BgpvsError('ip -j route: expected a JSON array');
  return data.filter(isObj).map((r) => {
    const nhs: KernelNexthop[] = [];
    if (Array.isArray(r.nexthops)) {
      for (const n of r.nexthops) if (isObj(n)) {
        const h = nexthop(n);
        if (h) nhs.push(h);
      }
    } else {
      const h = nexthop(r);
      if (h) nhs.push(h);
    }
    const route: KernelRoute = { nexthops: nhs };
    const dst = str(r.dst);
    if (dst !== undefined) route.dst = dst;
    const protocol = str(r.protocol);
    if (protocol !== undefined) route.protocol = protocol;
    const metric = num(r.metric);
    if (metric !== undefined) route.metric = metric;
    const type = str(r.type);
    if (type !== undefined) route.type = type;
    return route;
  });
}

/** Gateways of a route, sorted (handy for assertions). */
export function gateways(route: KernelRoute | undefined): string[] {
  return (route?.nexthops ?? []).map((n) => n.gateway).filter((g): g is string => g !== undefined).sort();
}
