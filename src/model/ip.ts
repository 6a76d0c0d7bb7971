/** Canonical IP strings for the model, parsed with ipaddr.js. */
import ipaddr from 'ipaddr.js';
import type { IpFamily } from './types.js';

export interface CanonicalIp {
  ip: string;
  family: IpFamily;
}

/**
 * A plain IPv4 or IPv6 address → its canonical string and family, or undefined.
 * Rejects what Kubernetes rejects: non-four-part or leading-zero IPv4, IPv6 zones,
 * IPv4-mapped IPv6.
 */
export function canonicalIp(s: string | undefined): CanonicalIp | undefined {
  if (!s) return undefined;
  // A valid four-part decimal without leading zeros is already canonical: skip re-rendering it
  // (100,000 endpoints per build make this the model's hottest call).
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return { ip: s, family: 'IPv4' };
  if (!ipaddr.IPv6.isValid(s)) return undefined;
  const a = ipaddr.IPv6.parse(s);
  if (a.zoneId !== undefined || a.isIPv4MappedAddress()) return undefined;
  return { ip: a.toString(), family: 'IPv6' };
}

/** A host prefix for an address: /32 or /128. */
export function hostPrefix(ip: CanonicalIp): string {
  return `${ip.ip}/${ip.family === 'IPv4' ? 32 : 128}`;
}

export interface ParsedCidr {
  family: IpFamily;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

export function parseCidrRange(s: string): ParsedCidr | undefined {
  if (!ipaddr.isValidCIDR(s)) return undefined;
  const range = ipaddr.parseCIDR(s);
  const [addr] = range;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return undefined;
  return { family: addr.kind() === 'ipv4' ? 'IPv4' : 'IPv6', range };
}

/** Whether canonical `ip` lies in `cidr` (same family only). */
export function cidrContains(cidr: ParsedCidr, ip: CanonicalIp): boolean {
  if (cidr.family !== ip.family) return false;
  return ipaddr.parse(ip.ip).match(cidr.range);
}

/**
 * A CIDR → its canonical form (network address, prefix length) and family, or undefined.
 * "10.1.2.3/8" becomes "10.0.0.0/8": the host bits a user left set do not matter to a filter.
 */
export function canonicalCidr(s: string): { cidr: string; family: IpFamily } | undefined {
  const p = parseCidrRange(s.trim());
  if (!p) return undefined;
  const [addr, len] = p.range;
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${len}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${len}`);
  return { cidr: `${net.toString()}/${len}`, family: p.family };
}
