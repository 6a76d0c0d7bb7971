/**
 * Parsers for FRR 8.4 vtysh JSON output:
 * - `show bgp ipv4 unicast summary json` → peers and session states
 * - `show bgp ipv4 unicast PREFIX json`  → BGP paths: nexthop, AS path, best/multipath,
 *   communities (e.g. GRACEFUL_SHUTDOWN), extended communities (link bandwidth), large communities
 * - `show ip route PREFIX json`          → zebra RIB entries with weighted nexthops
 * Input is the already JSON-parsed value; a shape that does not match throws BgpvsError.
 */
import { BgpvsError } from '../../../src/errors.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const bool = (v: unknown): boolean => v === true;

function expectObj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new BgpvsError(`FRR JSON: ${what} is not an object`);
  return v;
}

export interface FrrBgpPeer {
  address: string;
  remoteAs: number;
  /** FRR's FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established, ... */
  state: string;
  /** FRR's `peerState` (OK, Admin, Policy, ...), when printed. */
  peerState?: string;
  prefixesReceived?: number;
  prefixesSent?: number;
  uptimeMs?: number;
  connectionsEstablished?: number;
  connectionsDropped?: number;
}

/**
 * Accepts both `show bgp ipv4 unicast summary json` (the AF object at the top) and
 * `show bgp summary json` (wrapped in `ipv4Unicast`). No BGP instance / no peers → [].
 */
export function parseFrrBgpSummary(data: unknown): FrrBgpPeer[] {
  const top = expectObj(data, 'summary');
  const af = isObj(top.ipv4Unicast) ? top.ipv4Unicast : top;
  if (af.peers === undefined) return [];
  const peers = expectObj(af.peers, 'summary.peers');
  const out: FrrBgpPeer[] = [];
  for (const [address, v] of Object.entries(peers)) {
    const p = expectObj(v, `peer ${address}`);
    const state = str(p.state);
    if (state === undefined) throw new BgpvsError(`FRR JSON: peer ${address} has no state`);
    const peer: FrrBgpPeer = { address, remoteAs: num(p.remoteAs) ?? 0, state };
    const opt = {
      peerState: str(p.peerState),
      prefixesReceived: num(p.pfxRcd),
      prefixesSent: num(p.pfxSnt),
      uptimeMs: num(p.peerUptimeMsec),
      connectionsEstablished: num(p.connectionsEstablished),
      connectionsDropped: num(p.connectionsDropped),
    };
    for (const [k, val] of Object.entries(opt)) if (val !== undefined) (peer as unknown as Obj)[k] = val;
    out.push(peer);
  }
  return out.sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }));
}

export interface FrrLinkBandwidth {
  asn: number;
  /** The community's value as FRR prints it (`LB:asn:VALUE`): bytes per second. */
  bytesPerSecond: number;
  /** As FRR prints it, in Mbps (FRR shows bytes/s × 8 / 1e6 with 3 decimals). */
  mbps: number;
}

export interface FrrBgpPath {
  /** Peer the path came from (`peer.peerId`). */
  peer?: string;
  nexthop?: string;
  asPath: string;
  origin?: string;
  valid: boolean;
  best: boolean;
  multipath: boolean;
  localPref?: number;
  med?: number;
  /** Communities as FRR names them: `graceful-shutdown`, `65000:100`, `no-export`, ... */
  communities: string[];
  /** Extended communities as printed, e.g. `LB:65011:375000 (3.000 Mbps)`. */
  extendedCommunities: string[];
  largeCommunities: string[];
  /** Link bandwidth from the extended community, when present. */
  linkBandwidth?: FrrLinkBandwidth;
}

const LB_RE = /LB:(\d+):(\d+) \(([\d.]+) ([KMG])bps\)/;

function words(v: unknown): string[] {
  if (!isObj(v)) return [];
  const s = str(v.string);
  return s ? s.split(' ').filter(Boolean) : [];
}

/**
 * `show bgp ipv4 unicast PREFIX json` → its paths. A prefix FRR does not have prints `{}`
 * (→ []). Extended communities keep FRR's spacing (`LB:asn:val (x Mbps)` is one entry).
 */
export function parseFrrBgpRoute(data: unknown): FrrBgpPath[] {
  const top = expectObj(data, 'bgp route');
  if (top.paths === undefined) return [];
  if (!Array.isArray(top.paths)) throw new BgpvsError('FRR JSON: paths is not an array');
  return top.paths.map((raw, i) => {
    const p = expectObj(raw, `path ${i}`);
    const nhs = Array.isArray(p.nexthops) ? p.nexthops.filter(isObj) : [];
    const best = isObj(p.bestpath) ? bool(p.bestpath.overall) : false;
    const ext = isObj(p.extendedCommunity) ? str(p.extendedCommunity.string) : undefined;
    const extList = ext ? (ext.match(/\S+(?: \([^)]*\))?/g) ?? []) : [];
    const path: FrrBgpPath = {
      asPath: isObj(p.aspath) ? (str(p.aspath.string) ?? '') : '',
      valid: bool(p.valid),
      best,
      multipath: bool(p.multipath) || best,
      communities: words(p.community),
      extendedCommunities: extList,
      largeCommunities: words(p.largeCommunity),
    };
    const peer = isObj(p.peer) ? str(p.peer.peerId) : undefined;
    if (peer !== undefined) path.peer = peer;
    const nh = nhs.map((n) => str(n.ip)).find((x) => x !== undefined);
    if (nh !== undefined) path.nexthop = nh;
    const origin = str(p.origin);
    if (origin !== undefined) path.origin = origin;
    const lp = num(p.locPrf) ?? num(p.localpref);
    if (lp !== undefined) path.localPref = lp;
    const med = num(p.metric) ?? num(p.med);
    if (med !== undefined) path.med = med;
    const m = ext ? LB_RE.exec(ext) : null;
    if (m) {
      const scale = m[4] === 'K' ? 1e-3 : m[4] === 'G' ? 1e3 : 1;
      path.linkBandwidth = { asn: Number(m[1]), bytesPerSecond: Number(m[2]), mbps: Number(m[3]) * scale };
    }
    return path;
  });
}

export interface FrrRibNexthop {
  ip?: string;
  interfaceName?: string;
  active: boolean;
  /** Installed in the kernel FIB. */
  fib: boolean;
  /** Weight zebra gives the nexthop (1 when unweighted; scaled from link bandwidth). */
  weight: number;
}

export interface FrrRibRoute {
  prefix: string;
  protocol: string;
  selected: boolean;
  installed: boolean;
  distance?: number;
  metric?: number;
  nexthops: FrrRibNexthop[];
}

/** `show ip route PREFIX json` → RIB entries (all protocols) for that prefix; `{}` → []. */
export function parseFrrIpRoute(data: unknown): FrrRibRoute[] {
  const top = expectObj(data, 'ip route');
  const out: FrrRibRoute[] = [];
  for (const [prefix, entries] of Object.entries(top)) {
    if (!Array.isArray(entries)) throw new BgpvsError(`FRR JSON: route ${prefix} is not an array`);
    for (const raw of entries) {
      const e = expectObj(raw, `route ${prefix}`);
      const nexthops = (Array.isArray(e.nexthops) ? e.nexthops.filter(isObj) : []).map((n) => {
        const h: FrrRibNexthop = { active: bool(n.active), fib: bool(n.fib), weight: num(n.weight) ?? 1 };
        const ip = str(n.ip);
        if (ip !== undefined) h.ip = ip;
        const ifn = str(n.interfaceName);
        if (ifn !== undefined) h.interfaceName = ifn;
        return h;
      });
      const r: FrrRibRoute = {
        prefix: str(e.prefix) ?? prefix,
        protocol: str(e.protocol) ?? 'unknown',
        selected: bool(e.selected),
        installed: bool(e.installed),
        nexthops,
      };
      const distance = num(e.distance);
      if (distance !== undefined) r.distance = distance;
      const metric = num(e.metric);
      if (metric !== undefined) r.metric = metric;
      out.push(r);
    }
  }
  return out;
}

export interface FrrBfdPeer {
  peer: string;
  local?: string;
  interface?: string;
  multihop: boolean;
  /** up, down, init, shutdown, ... */
  status: string;
  diagnostic?: string;
  remoteDiagnostic?: string;
  /** Negotiated/configured intervals in ms and the multiplier, as FRR prints them. */
  receiveIntervalMs?: number;
  transmitIntervalMs?: number;
  detectMultiplier?: number;
  remoteReceiveIntervalMs?: number;
  remoteTransmitIntervalMs?: number;
  remoteDetectMultiplier?: number;
}

/** `show bfd peers json` → BFD sessions (an array in FRR 8.4; [] when none). */
export function parseFrrBfdPeers(data: unknown): FrrBfdPeer[] {
  if (isObj(data) && Object.keys(data).length === 0) return [];
  if (!Array.isArray(data)) throw new BgpvsError('FRR JSON: bfd peers is not an array');
  return data.map((raw, i) => {
    const p = expectObj(raw, `bfd peer ${i}`);
    const peer = str(p.peer);
    const status = str(p.status);
    if (peer === undefined || status === undefined) throw new BgpvsError(`FRR JSON: bfd peer ${i} lacks peer/status`);
    const out: FrrBfdPeer = { peer, multihop: bool(p.multihop), status };
    const opt: Partial<FrrBfdPeer> = {
      local: str(p.local),
      interface: str(p.interface),
      diagnostic: str(p.diagnostic),
      remoteDiagnostic: str(p['remote-diagnostic']),
      receiveIntervalMs: num(p['receive-interval']),
      transmitIntervalMs: num(p['transmit-interval']),
      detectMultiplier: num(p['detect-multiplier']),
      remoteReceiveIntervalMs: num(p['remote-receive-interval']),
      remoteTransmitIntervalMs: num(p['remote-transmit-interval']),
      remoteDetectMultiplier: num(p['remote-detect-multiplier']),
    };
    for (const [k, v] of Object.entries(opt)) if (v !== undefined) (out as unknown as Obj)[k] = v;
    return out;
  });
}

export interface FrrUpdateEvent {
  /** Timestamp as logged (`YYYY/MM/DD HH:MM:SS[.mmm]`); the order of events is the log's. */
  time: string;
  /** Neighbor address the UPDATE came from. */
  peer: string;
  kind: 'announce' | 'withdraw';
  prefix: string;
  /** For announcements: the attributes FRR logged with the UPDATE (`community`, `path`, ...). */
  attrs?: Record<string, string>;
  /** Communities of an announcement, split (`graceful-shutdown`, `65000:100`). */
  communities?: string[];
  /** Set when bgpd's inbound policy refused the prefix. */
  denied?: string;
}

const LOG_RE = /^(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) BGP: (?:\[[^\]]*\] )?(\S+?)(?:\([^)]*\))? rcvd (.*)$/;

/**
 * bgpd's log with `debug bgp updates in` (text, not JSON: FRR has no JSON form of this) →
 * the announcements and withdrawals it received, in order. The attribute line FRR logs
 * before an UPDATE's prefixes is attached to each announced prefix of that UPDATE.
 */
export function parseFrrUpdateLog(text: string): FrrUpdateEvent[] {
  const out: FrrUpdateEvent[] = [];
  const lastAttrs = new Map<string, Record<string, string>>();
  for (const line of text.split('\n')) {
    const m = LOG_RE.exec(line.trim());
    if (!m) continue;
    const [, time, peer, rest] = m as unknown as [string, string, string, string];
    const attr = /^UPDATE w\/ attr: (.*)$/.exec(rest);
    if (attr) {
      const attrs: Record<string, string> = {};
      for (const part of attr[1]!.split(', ')) {
        const i = part.indexOf(' ');
        if (i > 0) attrs[part.slice(0, i)] = part.slice(i + 1).trim();
      }
      lastAttrs.set(peer, attrs);
      continue;
    }
    const wd = /^UPDATE about (\S+) \S+ \S+ -- withdrawn/.exec(rest);
    if (wd) {
      out.push({ time, peer, kind: 'withdraw', prefix: wd[1]! });
      continue;
    }
    const an = /^(\S+\/\d+)(?: with addpath ID \d+)? IPv[46] \S+(?: -- DENIED due to: (.*))?$/.exec(rest);
    if (an) {
      const attrs = lastAttrs.get(peer) ?? {};
      const ev: FrrUpdateEvent = { time, peer, kind: 'announce', prefix: an[1]!, attrs, communities: (attrs.community ?? '').split(' ').filter(Boolean) };
      if (an[2]) ev.denied = an[2].trim();
      out.push(ev);
    }
  }
  return out;
}
