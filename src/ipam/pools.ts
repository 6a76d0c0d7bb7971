/**
 * IPPool custom resources → typed pools (address ranges as bigints), or the reason a pool is
 * invalid. Pure: a bad pool skips only itself, with a reason for its status condition.
 */
import ipaddr from 'ipaddr.js';
import { canonicalIp, parseCidrRange } from '../model/ip.js';
import type { IpFamily } from '../model/types.js';
import type { LabelSelector } from '../model/selector.js';
import type { IPPoolObject } from '../model/ip-pool.js';
import { checkSpec, type IPPoolSpec } from '../model/crd-schema.js';

/** Inclusive range of one family, as integers. */
export interface IpRange {
  family: IpFamily;
  start: bigint;
  end: bigint;
}

export interface Pool {
  name: string;
  ranges: readonly IpRange[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  /** Lower is preferred; pools without a priority come after those with one. */
  priority: number | undefined;
  namespaces: readonly string[] | undefined;
  namespaceSelector: LabelSelector | undefined;
  serviceSelector: LabelSelector | undefined;
  bgp: { communities: readonly string[]; largeCommunities: readonly string[]; localPref: number | undefined; weightedEcmp: boolean };
}

export type PoolResult = { ok: true; pool: Pool } | { ok: false; name: string; reason: string };

export function ipToBigInt(ip: string): { family: IpFamily; value: bigint } | undefined {
  const c = canonicalIp(ip);
  if (!c) return undefined;
  let v = 0n;
  for (const b of ipaddr.parse(c.ip).toByteArray()) v = (v << 8n) | BigInt(b);
  return { family: c.family, value: v };
}

export function bigIntToIp(family: IpFamily, value: bigint): string {
  const n = family === 'IPv4' ? 4 : 16;
  const bytes: number[] = new Array<number>(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** An IPv4 address ending in .0 or .255 (old clients and routers mistreat them). */
export function isBuggyIp(family: IpFamily, value: bigint): boolean {
  if (family !== 'IPv4') return false;
  const last = value & 0xffn;
  return last === 0n || last === 255n;
}

export function rangeSize(r: IpRange, avoidBuggy: boolean): bigint {
  const total = r.end - r.start + 1n;
  if (!avoidBuggy || r.family !== 'IPv4') return total;
  // Count .0 and .255 addresses in [start, end].
  const countEq = (k: bigint) => {
    const first = r.start + ((k - (r.start & 0xffn) + 256n) % 256n);
    return first > r.end ? 0n : (r.end - first) / 256n + 1n;
  };
  return total - countEq(0n) - countEq(255n);
}

export function poolSize(p: Pool): { IPv4: bigint; IPv6: bigint } {
  const out = { IPv4: 0n, IPv6: 0n };
  for (const r of p.ranges) out[r.family] += rangeSize(r, p.avoidBuggyIPs);
  return out;
}

function bad(name: string, reason: string): PoolResult {
  return { ok: false, name, reason };
}

/**
 * Validate and parse one IPPool: the CRD's schema (as admission applies it, for objects stored
 * before a schema change), then what its CEL rules say, then the typed pool.
 */
export function parsePool(obj: IPPoolObject): PoolResult {
  const name = obj.metadata?.name ?? '';
  if (!name) return bad(name, 'metadata.name: missing');
  let spec: IPPoolSpec;
  try {
    spec = checkSpec('IPPool', 'spec', obj.spec ?? {});
  } catch (err) {
    return bad(name, (err as Error).message);
  }
  const ranges: IpRange[] = [];
  for (const [i, c] of (spec.cidrs ?? []).entries()) {
    const p = parseCidrRange(c);
    if (!p) return bad(name, `spec.cidrs[${i}]: ${JSON.stringify(c)} is not a CIDR`);
    const base = ipToBigInt(p.range[0].toString());
    if (!base) return bad(name, `spec.cidrs[${i}]: ${JSON.stringify(c)} is not a CIDR`);
    const bits = p.family === 'IPv4' ? 32 : 128;
    const hostBits = BigInt(bits - p.range[1]);
    const start = (base.value >> hostBits) << hostBits;
    if (start !== base.value) return bad(name, `spec.cidrs[${i}]: ${JSON.stringify(c)} has host bits set`);
    ranges.push({ family: p.family, start, end: start + (1n << hostBits) - 1n });
  }
  for (const [i, r] of (spec.ranges ?? []).entries()) {
    const s = ipToBigInt(r.start ?? '');
    const e = ipToBigInt(r.end ?? '');
    if (!s) return bad(name, `spec.ranges[${i}].start: ${JSON.stringify(r.start)} is not an IP address`);
    if (!e) return bad(name, `spec.ranges[${i}].end: ${JSON.stringify(r.end)} is not an IP address`);
    if (s.family !== e.family) return bad(name, `spec.ranges[${i}]: start and end are of different families`);
    if (s.value > e.value) return bad(name, `spec.ranges[${i}]: start ${r.start} is after end ${r.end}`);
    ranges.push({ family: s.family, start: s.value, end: e.value });
  }
  if (ranges.length === 0) return bad(name, 'spec: no cidrs or ranges');
  const sa = spec.serviceAllocation ?? {};
  for (const k of ['namespaceSelector', 'serviceSelector'] as const) {
    for (const [i, e] of (sa[k]?.matchExpressions ?? []).entries()) {
      if ((e.operator === 'In' || e.operator === 'NotIn') !== (e.values ?? []).length > 0) return bad(name, `spec.serviceAllocation.${k}.matchExpressions[${i}]: In/NotIn need values; Exists/DoesNotExist take none`);
    }
  }
  return {
    ok: true,
    pool: {
      name,
      ranges: ranges.sort((a, b) => (a.family === b.family ? (a.start < b.start ? -1 : a.start > b.start ? 1 : 0) : a.family === 'IPv4' ? -1 : 1)),
      autoAssign: spec.autoAssign ?? true,
      avoidBuggyIPs: spec.avoidBuggyIPs ?? false,
      priority: sa.priority,
      namespaces: sa.namespaces,
      namespaceSelector: sa.namespaceSelector,
      serviceSelector: sa.serviceSelector,
      bgp: {
        communities: spec.bgp?.communities ?? [],
        largeCommunities: spec.bgp?.largeCommunities ?? [],
        localPref: spec.bgp?.localPref,
        // On by default: it only acts on Local-policy Services, where it is what users expect.
        weightedEcmp: spec.bgp?.weightedEcmp ?? true,
      },
    },
  };
}

/** Parse every pool; the valid ones in preference order (priority, then name). */
export function parsePools(objs: readonly IPPoolObject[]): { pools: Pool[]; invalid: { name: string; reason: string }[] } {
  const pools: Pool[] = [];
  const invalid: { name: string; reason: string }[] = [];
  for (const o of objs) {
    const r = parsePool(o);
    if (r.ok) pools.push(r.pool);
    else invalid.push({ name: r.name, reason: r.reason });
  }
  pools.sort((a, b) => (a.priority ?? Infinity) - (b.priority ?? Infinity) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { pools, invalid };
}
