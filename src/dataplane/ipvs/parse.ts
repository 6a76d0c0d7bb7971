/**
 * Pure parsers for ipvsadm output: `ipvsadm -Sn` (the save format, the table itself) and
 * `ipvsadm -Ln` (connection counts per real server, for draining). No process, no clock.
 */
import { BgpvsError } from '../../errors.js';
import { canonicalIp } from '../../model/ip.js';
import type { ForwardingMethod, Protocol, RealServer, Scheduler, SchedulerFlag, VirtualServer, VirtualServerKey } from '../../model/types.js';

/** A real server as the kernel holds it: forwarding is per real server in IPVS. */
export interface ActualRealServer extends RealServer {
  forwarding: ForwardingMethod;
}

export interface ActualVirtualServer extends Omit<VirtualServer, 'realServers'> {
  realServers: readonly ActualRealServer[];
}

/**
 * A virtual service we cannot express as a `VirtualServer` (fwmark, unknown scheduler or
 * forwarding): kept verbatim so nothing downstream mistakes its absence for "not there".
 */
export interface ForeignService {
  /** Set when the service has a (VIP, protocol, port) identity (not fwmark). */
  key?: VirtualServerKey;
  reason: string;
  lines: readonly string[];
}

export interface IpvsTableState {
  services: ActualVirtualServer[];
  foreign: ForeignService[];
}

export class IpvsParseError extends BgpvsError {
  readonly lineNo: number;
  readonly line: string;
  constructor(lineNo: number, line: string, why: string) {
    super(`ipvsadm output line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
    this.lineNo = lineNo;
    this.line = line;
  }
}

const SCHEDULERS: ReadonlySet<string> = new Set<Scheduler>(['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh']);
const FLAGS: ReadonlySet<string> = new Set<SchedulerFlag>(['mh-fallback', 'mh-port', 'sh-fallback', 'sh-port']);
const PROTO_OPT: Record<string, Protocol> = { '-t': 'TCP', '--tcp-service': 'TCP', '-u': 'UDP', '--udp-service': 'UDP', '--sctp-service': 'SCTP' };
const FWD_OPT: Record<string, ForwardingMethod> = { '-g': 'dr', '--gatewaying': 'dr', '-i': 'tunnel', '--ipip': 'tunnel', '-m': 'nat', '--masquerading': 'nat' };

/** Key string used by parse, diff and the adapter: `TCP/10.0.0.1/80`, `TCP/2001:db8::1/443`. */
export function serviceKeyString(k: VirtualServerKey): string {
  return `${k.protocol}/${k.vip}/${k.port}`;
}

/** Key of one real server inside one virtual service. */
export function realKeyString(k: VirtualServerKey, rs: { address: string; port: number }): string {
  return `${serviceKeyString(k)}>${rs.address}/${rs.port}`;
}

/** `10.0.0.1:80` or `[2001:db8::1]:80` → canonical address, family and port. */
export function parseHostPort(s: string): { address: string; family: 'IPv4' | 'IPv6'; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const ip = canonicalIp(m[1]);
  const port = Number(m[2]);
  if (!ip || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { address: ip.ip, family: ip.family, port };
}

/** Render an address and port the way ipvsadm takes and prints them. */
export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

interface ServiceLine {
  key?: VirtualServerKey & { family: 'IPv4' | 'IPv6' };
  fwmark?: number;
  scheduler: string;
  flags: string[];
  persistenceSeconds: number;
  unknownOpts: string[];
}

function parseServiceArgs(tok: string[], lineNo: number, line: string): ServiceLine {
  const out: ServiceLine = { scheduler: 'wlc', flags: [], persistenceSeconds: 0, unknownOpts: [] };
  for (let i = 0; i < tok.length; i++) {
    const t = tok[i]!;
    const next = (): string => {
      const v = tok[++i];
      if (v === undefined) throw new IpvsParseError(lineNo, line, `option ${t} needs a value`);
      return v;
    };
    const proto = PROTO_OPT[t];
    if (proto) {
      const hp = parseHostPort(next());
      if (!hp) throw new IpvsParseError(lineNo, line, 'bad service address');
      out.key = { vip: hp.address, port: hp.port, protocol: proto, family: hp.family };
    } else if (t === '-f' || t === '--fwmark-service') {
      out.fwmark = Number(next());
    } else if (t === '-s' || t === '--scheduler') {
      out.scheduler = next();
    } else if (t === '-b' || t === '--sched-flags') {
      out.flags = next().split(',').filter(Boolean);
    } else if (t === '-p' || t === '--persistent') {
      // `-p` without a number is possible on input; -S always prints the timeout.
      const v = tok[i + 1];
      if (v !== undefined && /^\d+$/.test(v)) {
        out.persistenceSeconds = Number(v);
        i++;
      } else out.persistenceSeconds = 300;
    } else if (t === '-M' || t === '--netmask' || t === '--pe') {
      out.unknownOpts.push(t, next());
    } else {
      out.unknownOpts.push(t);
    }
  }
  return out;
}

interface RealLine {
  key?: VirtualServerKey;
  fwmark?: number;
  address: string;
  port: number;
  weight: number;
  forwarding?: ForwardingMethod;
}

function parseRealArgs(tok: string[], lineNo: number, line: string): RealLine {
  let key: VirtualServerKey | undefined;
  let fwmark: number | undefined;
  let address: string | undefined;
  let port = 0;
  let weight = 1;
  let forwarding: ForwardingMethod | undefined;
  for (let i = 0; i < tok.length; i++) {
    const t = tok[i]!;
    const next = (): string => {
      const v = tok[++i];
      if (v === undefined) throw new IpvsParseError(lineNo, line, `option ${t} needs a value`);
      return v;
    };
    const proto = PROTO_OPT[t];
    const fwd = FWD_OPT[t];
    if (proto) {
      const hp = parseHostPort(next());
      if (!hp) throw new IpvsParseError(lineNo, line, 'bad service address');
      key = { vip: hp.address, port: hp.port, protocol: proto };
    } else if (t === '-f' || t === '--fwmark-service') {
      fwmark = Number(next());
    } else if (t === '-r' || t === '--real-server') {
      const hp = parseHostPort(next());
      if (!hp) throw new IpvsParseError(lineNo, line, 'bad real server address');
      address = hp.address;
      port = hp.port;
    } else if (t === '-w' || t === '--weight') {
      weight = Number(next());
      if (!Number.isInteger(weight) || weight < 0) throw new IpvsParseError(lineNo, line, 'bad weight');
    } else if (fwd) {
      forwarding = fwd;
    } else if (t === '--tun-type' || t === '--tun-port' || t === '-x' || t === '-y' || t === '--u-threshold' || t === '--l-threshold') {
      next();
    }
    // other flags (--tun-nocsum, --tun-csum, --tun-remcsum) carry no value and do not matter here
  }
  if (address === undefined) throw new IpvsParseError(lineNo, line, 'real server without -r');
  return { key, fwmark, address, port, weight, forwarding };
}

/**
 * `ipvsadm -Sn` → services in kernel order. TCP/UDP/SCTP services with known schedulers and
 * forwarding become `ActualVirtualServer`; fwmark or otherwise inexpressible services land in
 * `foreign`, lines verbatim.
 */
export function parseIpvsadmSave(text: string): IpvsTableState {
  const services: ActualVirtualServer[] = [];
  const foreign: ForeignService[] = [];
  const byKey = new Map<string, { vs?: ActualVirtualServer & { realServers: ActualRealServer[] }; foreign?: ForeignService & { lines: string[] } }>();
  const fwmarks = new Map<number, ForeignService & { lines: string[] }>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const tok = line.split(/\s+/);
    const cmd = tok[0];
    if (cmd === '-A') {
      const s = parseServiceArgs(tok.slice(1), n + 1, line);
      if (s.fwmark !== undefined) {
        const f = { reason: `fwmark ${s.fwmark}`, lines: [line] };
        fwmarks.set(s.fwmark, f);
        foreign.push(f);
        continue;
      }
      if (!s.key) throw new IpvsParseError(n + 1, line, 'service without address');
      const { family, ...key } = s.key;
      const ks = serviceKeyString(key);
      const badFlag = s.flags.find((f) => !FLAGS.has(f));
      const why = !SCHEDULERS.has(s.scheduler)
        ? `scheduler ${s.scheduler}`
        : badFlag
          ? `scheduler flag ${badFlag}`
          : s.unknownOpts.length
            ? `options ${s.unknownOpts.join(' ')}`
            : undefined;
      if (why) {
        const f = { key, reason: why, lines: [line] };
        byKey.set(ks, { foreign: f });
        foreign.push(f);
        continue;
      }
      const vs = {
        ...key,
        family,
        scheduler: s.scheduler as Scheduler,
        schedulerFlags: s.flags as SchedulerFlag[],
        persistenceSeconds: s.persistenceSeconds,
        forwarding: 'dr' as ForwardingMethod,
        realServers: [] as ActualRealServer[],
        services: [] as string[],
      };
      byKey.set(ks, { vs });
      services.push(vs);
    } else if (cmd === '-a') {
      const r = parseRealArgs(tok.slice(1), n + 1, line);
      if (r.fwmark !== undefined) {
        const f = fwmarks.get(r.fwmark);
        if (!f) throw new IpvsParseError(n + 1, line, 'real server before its fwmark service');
        f.lines.push(line);
        continue;
      }
      if (!r.key) throw new IpvsParseError(n + 1, line, 'real server without service');
      const entry = byKey.get(serviceKeyString(r.key));
      if (!entry) throw new IpvsParseError(n + 1, line, 'real server before its service');
      if (entry.foreign) {
        entry.foreign.lines.push(line);
        continue;
      }
      const vs = entry.vs!;
      if (!r.forwarding) {
        // ipvsadm -S always prints a forwarding method; be strict rather than guess.
        throw new IpvsParseError(n + 1, line, 'real server without forwarding method');
      }
      if (vs.realServers.length === 0) vs.forwarding = r.forwarding;
      vs.realServers.push({ address: r.address, port: r.port, weight: r.weight, forwarding: r.forwarding });
    } else {
      throw new IpvsParseError(n + 1, line, 'unknown command');
    }
  }
  return { services, foreign };
}

export interface ConnCounts {
  active: number;
  inactive: number;
}

const LIST_PROTO: Record<string, Protocol> = { TCP: 'TCP', UDP: 'UDP', SCTP: 'SCTP' };

/**
 * `ipvsadm -Ln` → connection counts per real server, keyed by `realKeyString`.
 * Header lines and fwmark (`FWM`) services are skipped.
 */
export function parseIpvsadmListConns(text: string): Map<string, ConnCounts> {
  const out = new Map<string, ConnCounts>();
  let current: VirtualServerKey | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const tok = raw.trim().split(/\s+/);
    if (tok[0] === '->') {
      if (!current || tok[1] === 'RemoteAddress:Port') continue;
      const hp = parseHostPort(tok[1] ?? '');
      const active = Number(tok[4]);
      const inactive = Number(tok[5]);
      if (!hp || !Number.isInteger(active) || !Number.isInteger(inactive)) throw new IpvsParseError(n + 1, raw, 'bad real server row');
      out.set(realKeyString(current, hp), { active, inactive });
      continue;
    }
    const proto = LIST_PROTO[tok[0] ?? ''];
    if (proto) {
      const hp = parseHostPort(tok[1] ?? '');
      if (!hp) throw new IpvsParseError(n + 1, raw, 'bad service row');
      current = { protocol: proto, vip: hp.address, port: hp.port };
    } else {
      current = undefined; // FWM, headers
    }
  }
  return out;
}
