/** Typed parsers for config values. Each throws ConfigError naming the field. */
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../errors.js';
import type { IpFamily } from '../model/types.js';

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "3s", "1.5m", "2h" → milliseconds. */
export function parseDuration(field: string, v: string): number {
  const m = DURATION_RE.exec(v.trim());
  if (!m) throw new ConfigError(field, `not a duration (e.g. 500ms, 3s, 1m): ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** "65001" or asdot "1.10" → a 32-bit ASN (0 and 65535/4294967295 are reserved). */
export function parseAsn(field: string, v: string): number {
  const s = v.trim();
  let n: number;
  const dot = /^(\d+)\.(\d+)$/.exec(s);
  if (dot) {
    const hi = Number(dot[1]);
    const lo = Number(dot[2]);
    if (hi > 65535 || lo > 65535) throw new ConfigError(field, `not an ASN: ${JSON.stringify(v)}`);
    n = hi * 65536 + lo;
  } else if (/^\d+$/.test(s)) {
    n = Number(s);
  } else {
    throw new ConfigError(field, `not an ASN: ${JSON.stringify(v)}`);
  }
  if (n < 1 || n > 4294967294 || n === 65535) throw new ConfigError(field, `ASN out of range or reserved: ${n}`);
  return n;
}

export function parseIp(field: string, v: string): string {
  const s = v.trim();
  // ipaddr.isValid takes "1.2.3" (classful shorthand) as 1.2.0.3; only dotted quads are meant.
  if (!(ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s))) throw new ConfigError(field, `not an IP address: ${JSON.stringify(v)}`);
  return ipaddr.parse(s).toString();
}

/** A CIDR, normalised to its network address ("10.0.0.5/24" is rejected: host bits set). */
export function parseCidr(field: string, v: string): string {
  const s = v.trim();
  if (!ipaddr.isValidCIDR(s)) throw new ConfigError(field, `not a CIDR: ${JSON.stringify(v)}`);
  const [addr, len] = ipaddr.parseCIDR(s);
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(s) : ipaddr.IPv6.networkAddressFromCIDR(s);
  if (net.toString() !== addr.toString()) throw new ConfigError(field, `host bits set in ${s}; did you mean ${net.toString()}/${len}?`);
  return `${net.toString()}/${len}`;
}

export function parseBool(field: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(field, `not a boolean: ${JSON.stringify(v)}`);
}

export function parseInt(field: string, v: string, min: number, max: number): number {
  const s = v.trim();
  if (!/^-?\d+$/.test(s)) throw new ConfigError(field, `not an integer: ${JSON.stringify(v)}`);
  const n = Number(s);
  if (n < min || n > max) throw new ConfigError(field, `must be between ${min} and ${max}: ${n}`);
  return n;
}

export function parseEnum<T extends string>(field: string, v: string, allowed: readonly T[]): T {
  const s = v.trim() as T;
  if (!allowed.includes(s)) throw new ConfigError(field, `must be one of ${allowed.join(', ')}: ${JSON.stringify(v)}`);
  return s;
}

/** "host:port" with an IPv4/IPv6 host ("[::1]:50051" for IPv6). */
export function parseHostPort(field: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v.trim());
  if (!m) throw new ConfigError(field, `not host:port: ${JSON.stringify(v)}`);
  const host = parseIp(field, (m[1] ?? m[2])!);
  return { host, port: parseInt(field, m[3]!, 1, 65535) };
}

const PEER_FAMILIES: Record<string, IpFamily> = { 'ipv4-unicast': 'IPv4', 'ipv6-unicast': 'IPv6' };

/** BGP address families as BGPPeer and --bgp.peers spell them: ipv4-unicast, ipv6-unicast. */
export function parsePeerFamilies(field: string, v: unknown): IpFamily[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(field, 'must be a non-empty list of ipv4-unicast, ipv6-unicast');
  return [...new Set(v.map((f: unknown, i) => {
    const fam = PEER_FAMILIES[String(f)];
    if (!fam) throw new ConfigError(`${field}[${i}]`, `${JSON.stringify(f)} is not ipv4-unicast or ipv6-unicast`);
    return fam;
  }))];
}

/** gobgpd's graceful-restart time when a peer enables it without one. */
export const DEFAULT_GR_RESTART_SECONDS = 120;
