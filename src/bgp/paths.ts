/**
 * Pure: Advertisements → the paths this node wants in gobgpd, and GoBGP v4 `Path` messages
 * to and from that canonical form. No clock, socket or process here.
 *
 * Every path bgpvs originates carries a MARKER large community, so the speaker only ever
 * lists, diffs and deletes paths it made itself.
 */
import ipaddr from 'ipaddr.js';
import type { Advertisement, IpFamily } from '../model/types.js';
import { FAMILY_IPV4, FAMILY_IPV6, type Attribute, type ExtendedCommunity, type Path } from './gobgp-client.js';

/** RFC 8326 GRACEFUL_SHUTDOWN well-known community. */
export const GRACEFUL_SHUTDOWN = '65535:0';
/** Local-pref set on every path while draining (RFC 8326 suggests 0 on receipt). */
export const DRAIN_LOCAL_PREF = 0;

/** A path in canonical, comparable form: sorted lists, canonical prefix and next hop. */
export interface PathSpec {
  prefix: string;
  family: IpFamily;
  nextHop: string;
  /** Standard communities "A:B", sorted, deduplicated. */
  communities: readonly string[];
  /** Large communities "G:L1:L2", sorted, deduplicated (includes the marker). */
  largeCommunities: readonly string[];
  localPref?: number;
  /** BGP link-bandwidth extended community (bytes per second), for weighted ECMP. */
  linkBandwidth?: { asn: number; bytesPerSecond: number };
}

export interface PathOptions {
  /** Next hop per family: the node's address; a family without one is not announced. */
  nextHops: { IPv4?: string; IPv6?: string };
  /** The marker large community, "G:L1:L2". */
  marker: string;
  /** Draining: add GRACEFUL_SHUTDOWN and set local-pref to DRAIN_LOCAL_PREF. */
  gracefulShutdown?: boolean;
  /** Hook for weighted ECMP: the link-bandwidth to attach to an advertisement, if any. */
  linkBandwidth?: (ad: Advertisement) => { asn: number; bytesPerSecond: number } | undefined;
}

export type PathSkipReason = 'invalidPrefix' | 'noNextHopForFamily' | `invalidCommunity: ${string}` | `invalidLargeCommunity: ${string}`;

export interface WantedPaths {
  paths: PathSpec[];
  skipped: { prefix: string; reason: PathSkipReason }[];
}

/** The default marker: "<asn>:4242:1" (a large community carries a 4-byte ASN). */
export function defaultMarker(asn: number): string {
  return `${asn}:4242:1`;
}

// ---- parsing helpers ----------------------------------------------------------------------

const U16 = 0xffff;
const U32 = 0xffffffff;

function parseUint(s: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= max ? n : undefined;
}

/** "A:B" → uint32, or undefined. */
export function communityToNumber(s: string): number | undefined {
  const parts = s.split(':');
  if (parts.length !== 2) return undefined;
  const hi = parseUint(parts[0]!, U16);
  const lo = parseUint(parts[1]!, U16);
  if (hi === undefined || lo === undefined) return undefined;
  return hi * 0x10000 + lo;
}

export function communityToString(n: number): string {
  return `${Math.floor(n / 0x10000)}:${n & U16}`;
}

/** "G:L1:L2" → its three uint32 parts, or undefined. */
export function parseLargeCommunity(s: string): [number, number, number] | undefined {
  const parts = s.split(':');
  if (parts.length !== 3) return undefined;
  const n = parts.map((p) => parseUint(p, U32));
  if (n.some((x) => x === undefined)) return undefined;
  return n as [number, number, number];
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/** Canonical host/network prefix "addr/len" and its family, or undefined. */
export function canonicalPrefix(s: string): { prefix: string; family: IpFamily } | undefined {
  if (!ipaddr.isValidCIDR(s)) return undefined;
  const [addr, len] = ipaddr.parseCIDR(s);
  if (addr.kind() === 'ipv4') {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s.split('/')[0]!)) return undefined;
    const net = ipaddr.IPv4.networkAddressFromCIDR(s);
    return { prefix: `${net.toString()}/${len}`, family: 'IPv4' };
  }
  const net = ipaddr.IPv6.networkAddressFromCIDR(s);
  return { prefix: `${net.toRFC5952String()}/${len}`, family: 'IPv6' };
}

function canonicalAddress(s: string): string {
  if (!ipaddr.isValid(s)) return s;
  const a = ipaddr.parse(s);
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

// ---- Advertisement → PathSpec -------------------------------------------------------------

/**
 * The paths this node wants. Advertisements of one prefix merge (union of communities, the
 * lowest local-pref). An advertisement that cannot be announced is skipped with a reason.
 */
export function wantedPaths(ads: readonly Advertisement[], opts: PathOptions): WantedPaths {
  const byPrefix = new Map<string, PathSpec>();
  const skipped: WantedPaths['skipped'] = [];
  for (const ad of ads) {
    const cp = canonicalPrefix(ad.prefix);
    if (!cp) {
      skipped.push({ prefix: ad.prefix, reason: 'invalidPrefix' });
      continue;
    }
    const nh = opts.nextHops[cp.family];
    if (!nh) {
      skipped.push({ prefix: cp.prefix, reason: 'noNextHopForFamily' });
      continue;
    }
    const badComm = ad.communities.find((c) => communityToNumber(c) === undefined);
    if (badComm !== undefined) {
      skipped.push({ prefix: cp.prefix, reason: `invalidCommunity: ${badComm}` });
      continue;
    }
    const badLarge = ad.largeCommunities.find((c) => parseLargeCommunity(c) === undefined);
    if (badLarge !== undefined) {
      skipped.push({ prefix: cp.prefix, reason: `invalidLargeCommunity: ${badLarge}` });
      continue;
    }
    const comms = ad.communities.map((c) => communityToString(communityToNumber(c)!));
    const larges = ad.largeCommunities.map((c) => parseLargeCommunity(c)!.join(':'));
    const prev = byPrefix.get(cp.prefix);
    const localPref = prev?.localPref === undefined ? ad.localPref : ad.localPref === undefined ? prev.localPref : Math.min(prev.localPref, ad.localPref);
    const lb = prev?.linkBandwidth ?? opts.linkBandwidth?.(ad);
    const spec: PathSpec = {
      prefix: cp.prefix,
      family: cp.family,
      nextHop: canonicalAddress(nh),
      communities: [...(prev?.communities ?? []), ...comms],
      largeCommunities: [...(prev?.largeCommunities ?? []), ...larges],
      ...(localPref !== undefined ? { localPref } : {}),
      ...(lb ? { linkBandwidth: lb } : {}),
    };
    byPrefix.set(cp.prefix, spec);
  }
  const marker = parseLargeCommunity(opts.marker)?.join(':') ?? opts.marker;
  const paths = [...byPrefix.values()]
    .map((p) => finish(p, marker, opts.gracefulShutdown ?? false))
    .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  return { paths, skipped };
}

function finish(p: PathSpec, marker: string, drain: boolean): PathSpec {
  const out: PathSpec = {
    ...p,
    communities: sortedUnique(drain ? [...p.communities, GRACEFUL_SHUTDOWN] : p.communities),
    largeCommunities: sortedUnique([...p.largeCommunities, marker]),
  };
  if (drain) out.localPref = DRAIN_LOCAL_PREF;
  return out;
}

/** A stable text key of everything that is announced: equal keys = identical paths. */
export function pathKey(p: PathSpec): string {
  const lb = p.linkBandwidth ? `${p.linkBandwidth.asn}:${p.linkBandwidth.bytesPerSecond}` : '';
  return [p.prefix, p.nextHop, p.communities.join(','), p.largeCommunities.join(','), p.localPref ?? '', lb].join('|');
}

// ---- PathSpec ↔ GoBGP Path --------------------------------------------------------------

function splitPrefix(prefix: string): { prefix: string; prefix_len: number } {
  const i = prefix.lastIndexOf('/');
  return { prefix: prefix.slice(0, i), prefix_len: Number(prefix.slice(i + 1)) };
}

/** A GoBGP v4 Path: ORIGIN IGP, NEXT_HOP (IPv4) or MP_REACH (IPv6), communities, local-pref. */
export function toGobgpPath(p: PathSpec): Path {
  const nlri = { prefix: splitPrefix(p.prefix) };
  const family = p.family === 'IPv4' ? FAMILY_IPV4 : FAMILY_IPV6;
  const pattrs: Attribute[] = [{ origin: { origin: 0 } }];
  if (p.family === 'IPv4') pattrs.push({ next_hop: { next_hop: p.nextHop } });
  else pattrs.push({ mp_reach: { family, next_hops: [p.nextHop], nlris: [nlri] } });
  if (p.localPref !== undefined) pattrs.push({ local_pref: { local_pref: p.localPref } });
  if (p.communities.length) pattrs.push({ communities: { communities: p.communities.map((c) => communityToNumber(c)!) } });
  if (p.largeCommunities.length) {
    pattrs.push({
      large_communities: {
        communities: p.largeCommunities.map((c) => {
          const [g, l1, l2] = parseLargeCommunity(c)!;
          return { global_admin: g, local_data1: l1, local_data2: l2 };
        }),
      },
    });
  }
  if (p.linkBandwidth) {
    const ext: ExtendedCommunity = { link_bandwidth: { asn: p.linkBandwidth.asn, bandwidth: p.linkBandwidth.bytesPerSecond } };
    pattrs.push({ extended_communities: { communities: [ext] } });
  }
  return { family, nlri, pattrs };
}

/** A path for DeletePath: the NLRI and family are what identify a locally originated path. */
export function toGobgpWithdraw(p: Pick<PathSpec, 'prefix' | 'family' | 'nextHop'>): Path {
  return toGobgpPath({ ...p, communities: [], largeCommunities: [] });
}

/** Whether a listed path is one bgpvs originated: local (no neighbor) and carrying `marker`. */
export function isOurs(p: Path, marker: string): boolean {
  if (p.is_from_external || (p.neighbor_ip && p.neighbor_ip !== '<nil>')) return false;
  const m = parseLargeCommunity(marker);
  if (!m) return false;
  for (const a of p.pattrs) {
    for (const c of a.large_communities?.communities ?? []) {
      if (c.global_admin === m[0] && c.local_data1 === m[1] && c.local_data2 === m[2]) return true;
    }
  }
  return false;
}

/** A listed GoBGP path → canonical form (undefined for non-IP-prefix NLRI). */
export function fromGobgpPath(p: Path): PathSpec | undefined {
  const n = p.nlri?.prefix;
  if (!n || !n.prefix) return undefined;
  const cp = canonicalPrefix(`${n.prefix}/${n.prefix_len}`);
  if (!cp) return undefined;
  let nextHop = '';
  const communities: string[] = [];
  const large: string[] = [];
  let localPref: number | undefined;
  let linkBandwidth: PathSpec['linkBandwidth'];
  for (const a of p.pattrs ?? []) {
    if (a.next_hop) nextHop = a.next_hop.next_hop;
    if (a.mp_reach && a.mp_reach.next_hops.length) nextHop = a.mp_reach.next_hops[0]!;
    if (a.local_pref) localPref = a.local_pref.local_pref;
    for (const c of a.communities?.communities ?? []) communities.push(communityToString(c));
    for (const c of a.large_communities?.communities ?? []) large.push(`${c.global_admin}:${c.local_data1}:${c.local_data2}`);
    for (const e of a.extended_communities?.communities ?? []) {
      if (e.link_bandwidth) linkBandwidth = { asn: e.link_bandwidth.asn, bytesPerSecond: e.link_bandwidth.bandwidth };
    }
  }
  return {
    prefix: cp.prefix,
    family: cp.family,
    nextHop: nextHop ? canonicalAddress(nextHop) : '',
    communities: sortedUnique(communities),
    largeCommunities: sortedUnique(large),
    ...(localPref !== undefined ? { localPref } : {}),
    ...(linkBandwidth ? { linkBandwidth } : {}),
  };
}
