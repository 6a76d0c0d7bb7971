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
  /** Services of different namespaces may share one address (same sharing key); default false. */
  allowSharingAcrossNamespaces: boolean;
  bgp: { communities: readonly string[]; largeCommunities: readonly string[]; localPref: number | undefined; weightedEcmp: boolean };
}

/**
 * What the operator allows a pool to be (flags --ipam.min-pool-prefix-ipv4/-ipv6): no pool may
 * hold more addresses than one CIDR of this prefix length.
 */
export interface PoolRules {
  minPrefixLength: { IPv4: number; IPv6: number };
}

export const DEFAULT_POOL_RULES: Readonly<PoolRules> = Object.freeze({ minPrefixLength: Object.freeze({ IPv4: 16, IPv6: 64 }) });

/**
 * Address space no pool may cover: it cannot be announced as a Service address (the same list
 * as the CRD's CEL rules in daemonset/crds/ippool.yaml, which refuse most of it at admission).
 */
export const RESERVED_SPACE: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: 'unspecified ("this network")' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '::/128', what: 'unspecified' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

/** Well-known community names the CRD admits → the "A:B" value the BGP speaker sends. */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, string>> = Object.freeze({
  'graceful-shutdown': '65535:0', // RFC 8326
  blackhole: '65535:666', // RFC 7999
  'no-export': '65535:65281', // RFC 1997
  'no-advertise': '65535:65282', // RFC 1997
  'no-peer': '65535:65284', // RFC 3765
});

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

function cidrToRange(c: string): IpRange | undefined {
  const p = parseCidrRange(c);
  const base = p && ipToBigInt(p.range[0].toString());
  if (!p || !base) return undefined;
  const hostBits = BigInt((p.family === 'IPv4' ? 32 : 128) - p.range[1]);
  const start = (base.value >> hostBits) << hostBits;
  return { family: p.family, start, end: start + (1n << hostBits) - 1n };
}

const RESERVED_RANGES = RESERVED_SPACE.map((r) => ({ ...r, range: cidrToRange(r.cidr)! }));

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** Why a range may not be in a pool (reserved space, wider than the rules allow), or undefined. */
export function rangeProblem(r: IpRange, rules: PoolRules): string | undefined {
  const hit = RESERVED_RANGES.find((x) => rangesOverlap(x.range, r));
  if (hit) return `covers ${hit.what} space (${hit.cidr}), which cannot be a Service address`;
  const bits = r.family === 'IPv4' ? 32 : 128;
  const min = rules.minPrefixLength[r.family];
  if (r.end - r.start + 1n > 1n << BigInt(bits - min)) return `is wider than a /${min} (the operator's minimum prefix length for ${r.family} pools)`;
  return undefined;
}

/** A community as the CRD admits it → the "A:B" the speaker sends, or undefined (not sendable). */
export function sendableCommunity(c: string): string | undefined {
  const known = WELL_KNOWN_COMMUNITIES[c];
  if (known) return known;
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(c);
  return m && Number(m[1]) <= 0xffff && Number(m[2]) <= 0xffff ? `${Number(m[1])}:${Number(m[2])}` : undefined;
}

function sendableLargeCommunity(c: string): boolean {
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(c);
  return !!m && [m[1], m[2], m[3]].every((x) => Number(x) <= 0xffffffff);
}

function bad(name: string, reason: string): PoolResult {
  return { ok: false, name, reason };
}

/**
 * Validate and parse one IPPool: the CRD's schema (as admission applies it, for objects stored
 * before a schema change), then what its CEL rules say, then the typed pool.
 */
export function parsePool(obj: IPPoolObject, rules: PoolRules = DEFAULT_POOL_RULES): PoolResult {
  const name = obj.metadata?.name ?? '';
  if (!name) return bad(name, 'metadata.name: missing');
  let spec: IPPoolSpec;
  try {
    spec = checkSpec('IPPool', 'spec', obj.spec ?? {});
  } catch (err) {
    return bad(name, (err as Error).message);
  }
  const ranges: IpRange[] = [];
  /** Each range's field and text, for reasons. */
  const labels: string[] = [];
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
    labels.push(`spec.cidrs[${i}]: ${c}`);
  }
  for (const [i, r] of (spec.ranges ?? []).entries()) {
    const s = ipToBigInt(r.start ?? '');
    const e = ipToBigInt(r.end ?? '');
    if (!s) return bad(name, `spec.ranges[${i}].start: ${JSON.stringify(r.start)} is not an IP address`);
    if (!e) return bad(name, `spec.ranges[${i}].end: ${JSON.stringify(r.end)} is not an IP address`);
    if (s.family !== e.family) return bad(name, `spec.ranges[${i}]: start and end are of different families`);
    if (s.value > e.value) return bad(name, `spec.ranges[${i}]: start ${r.start} is after end ${r.end}`);
    ranges.push({ family: s.family, start: s.value, end: e.value });
    labels.push(`spec.ranges[${i}]: ${r.start}-${r.end}`);
  }
  if (ranges.length === 0) return bad(name, 'spec: no cidrs or ranges');
  const where = (i: number) => labels[i] ?? '';
  for (const [i, r] of ranges.entries()) {
    const why = rangeProblem(r, rules);
    if (why) return bad(name, `${where(i)} ${why}`);
  }
  for (const [i, r] of ranges.entries()) {
    const j = ranges.findIndex((o, k) => k > i && rangesOverlap(o, r));
    if (j >= 0) return bad(name, `${where(j)} overlaps ${where(i)}`);
  }
  const communities: string[] = [];
  for (const [i, c] of (spec.bgp?.communities ?? []).entries()) {
    const v = sendableCommunity(c);
    if (!v) return bad(name, `spec.bgp.communities[${i}]: ${JSON.stringify(c)} is not a community the speaker can send (A:B with A and B at most 65535, or a well-known name)`);
    communities.push(v);
  }
  for (const [i, c] of (spec.bgp?.largeCommunities ?? []).entries()) {
    if (!sendableLargeCommunity(c)) return bad(name, `spec.bgp.largeCommunities[${i}]: ${JSON.stringify(c)} is not a large community the speaker can send (G:L1:L2, each at most 4294967295)`);
  }
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
      allowSharingAcrossNamespaces: sa.allowSharingAcrossNamespaces ?? false,
      bgp: {
        communities,
        largeCommunities: spec.bgp?.largeCommunities ?? [],
        localPref: spec.bgp?.localPref,
        // On by default: it only acts on Local-policy Services, where it is what users expect.
        weightedEcmp: spec.bgp?.weightedEcmp ?? true,
      },
    },
  };
}

/** Older first (creationTimestamp, then name): the order in which pools claim addresses. */
function byAge(a: IPPoolObject, b: IPPoolObject): number {
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

function created(o: IPPoolObject): string {
  const t = o.metadata?.creationTimestamp as unknown;
  return t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : '';
}

/**
 * Parse every pool; the valid ones in preference order (priority, then name). Each address
 * belongs to at most one pool: of two overlapping pools the newer (creationTimestamp, then
 * name) is invalid, so allocation, accounting and announcements never depend on pool order.
 */
export function parsePools(objs: readonly IPPoolObject[], rules: PoolRules = DEFAULT_POOL_RULES): { pools: Pool[]; invalid: { name: string; reason: string }[] } {
  const pools: Pool[] = [];
  const invalid: { name: string; reason: string }[] = [];
  for (const o of [...objs].sort(byAge)) {
    const r = parsePool(o, rules);
    if (!r.ok) {
      invalid.push({ name: r.name, reason: r.reason });
      continue;
    }
    const older = pools.find((p) => p.ranges.some((a) => r.pool.ranges.some((b) => rangesOverlap(a, b))));
    if (older) invalid.push({ name: r.pool.name, reason: `overlaps pool ${older.name}, which is older: an address belongs to one pool (the older keeps it)` });
    else pools.push(r.pool);
  }
  pools.sort((a, b) => (a.priority ?? Infinity) - (b.priority ?? Infinity) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { pools, invalid };
}
