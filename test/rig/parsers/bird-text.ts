/**
 * Parsers for BIRD 2.0 `birdc` text output (Debian bird2 2.0.12):
 * - `show protocols [all]` → protocols; for BGP ones the session state, neighbor, ASNs,
 *   timers and last error; per channel its state and route counts
 * - `show route [PREFIX] all` → routes with nexthops, primary flag and BGP attributes
 *   (communities in `asn:value` form, e.g. `65535:0` for GRACEFUL_SHUTDOWN)
 * birdc's banner (`BIRD x ready.`) and header lines are skipped.
 */

export interface BirdChannel {
  name: string;
  state?: string;
  table?: string;
  preference?: number;
  importFilter?: string;
  exportFilter?: string;
  routes?: { imported: number; exported: number; preferred: number; filtered?: number };
}

export interface BirdBgpSession {
  /** BIRD's BGP state: Idle, Connect, Active, OpenSent, OpenConfirm, Established, Close, Down. */
  state: string;
  neighborAddress?: string;
  neighborAs?: number;
  localAs?: number;
  neighborId?: string;
  session?: string;
  sourceAddress?: string;
  /** Negotiated hold / keepalive times in seconds (the part after `/` in BIRD's timers). */
  holdTimeSeconds?: number;
  keepaliveSeconds?: number;
  lastError?: string;
}

export interface BirdProtocol {
  name: string;
  /** BGP, Kernel, Device, BFD, Static, Direct, ... */
  proto: string;
  table: string;
  /** up, start, down, flush, ... */
  state: string;
  since: string;
  /** Free text; for BGP the FSM state plus any error (`Established`, `Active  Socket: ...`). */
  info: string;
  bgp?: BirdBgpSession;
  channels: BirdChannel[];
}

const HEADER_RE = /^Name\s+Proto\s+Table\s+State\s+Since\s+Info/;
const BANNER_RE = /^BIRD [\d.]+\S* ready\.$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

const indentOf = (line: string) => /^ */.exec(line)![0].length;

function intOr(v: string): number | undefined {
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** `87.443/90` → 90 */
function timerMax(v: string): number | undefined {
  const m = /\/(\d+(?:\.\d+)?)\s*$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

function parseRoutesCount(v: string): BirdChannel['routes'] {
  const count = (word: string) => {
    const m = new RegExp(`(\\d+) ${word}`).exec(v);
    return m ? Number(m[1]) : undefined;
  };
  const r: NonNullable<BirdChannel['routes']> = { imported: count('imported') ?? 0, exported: count('exported') ?? 0, preferred: count('preferred') ?? 0 };
  const filtered = count('filtered');
  if (filtered !== undefined) r.filtered = filtered;
  return r;
}

export function parseBirdProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  let cur: BirdProtocol | undefined;
  let section: 'bgp' | 'channel' | 'other' = 'other';
  for (const line of text.split('\n')) {
    if (!line.trim() || BANNER_RE.test(line) || HEADER_RE.test(line)) continue;
    const indent = indentOf(line);
    if (indent === 0) {
      const tok = line.trim().split(/\s+/);
      if (tok.length < 5) continue;
      let since = tok[4]!;
      let rest = tok.slice(5);
      if (DATE_RE.test(since) && rest.length) {
        since = `${since} ${rest[0]}`;
        rest = rest.slice(1);
      }
      cur = { name: tok[0]!, proto: tok[1]!, table: tok[2]!, state: tok[3]!, since, info: rest.join(' '), channels: [] };
      out.push(cur);
      section = 'other';
      continue;
    }
    if (!cur) continue;
    const t = line.trim();
    if (indent === 2) {
      const ch = /^Channel (\S+)$/.exec(t);
      if (ch) {
        cur.channels.push({ name: ch[1]! });
        section = 'channel';
        continue;
      }
      const bs = /^BGP state:\s+(\S+)/.exec(t);
      if (bs) {
        cur.bgp = { state: bs[1]! };
        section = 'bgp';
        continue;
      }
      section = 'other';
      continue;
    }
    if (indent !== 4) continue;
    const kv = /^([A-Za-z][A-Za-z0-9 ]*?):\s+(.*)$/.exec(t);
    if (!kv) continue;
    const key = kv[1]!;
    const val = kv[2]!.trim();
    if (section === 'bgp' && cur.bgp) {
      const b = cur.bgp;
      if (key === 'Neighbor address') b.neighborAddress = val;
      else if (key === 'Neighbor AS') b.neighborAs = intOr(val);
      else if (key === 'Local AS') b.localAs = intOr(val);
      else if (key === 'Neighbor ID') b.neighborId = val;
      else if (key === 'Session') b.session = val;
      else if (key === 'Source address') b.sourceAddress = val;
      else if (key === 'Hold timer') b.holdTimeSeconds = timerMax(val);
      else if (key === 'Keepalive timer') b.keepaliveSeconds = timerMax(val);
      else if (key === 'Last error') b.lastError = val;
      for (const k of Object.keys(b) as (keyof BirdBgpSession)[]) if (b[k] === undefined) delete b[k];
    } else if (section === 'channel') {
      const c = cur.channels[cur.channels.length - 1]!;
      if (key === 'State') c.state = val;
      else if (key === 'Table') c.table = val;
      else if (key === 'Preference') {
        const p = intOr(val);
        if (p !== undefined) c.preference = p;
      } else if (key === 'Input filter') c.importFilter = val;
      else if (key === 'Output filter') c.exportFilter = val;
      else if (key === 'Routes') c.routes = parseRoutesCount(val);
    }
  }
  return out;
}

export interface BirdNexthop {
  gateway?: string;
  dev?: string;
  weight?: number;
}

export interface BirdRoute {
  prefix: string;
  table: string;
  /** unicast, blackhole, unreachable, ... */
  type: string;
  protocol: string;
  since: string;
  /** BIRD's `*`: the selected (best) route for the prefix. */
  primary: boolean;
  preference: number;
  nexthops: BirdNexthop[];
  /** `Type:` line, e.g. `BGP univ`. */
  source?: string;
  origin?: string;
  asPath?: string;
  bgpNextHop?: string;
  localPref?: number;
  med?: number;
  /** `(65535,0)` → `65535:0` */
  communities: string[];
  /** `(65011, 4242, 1)` → `65011:4242:1` */
  largeCommunities: string[];
  /** As printed inside the parentheses, e.g. `rt, 65000, 1` or `generic, 0x40040000, 0x...`. */
  extCommunities: string[];
  /** Every `Key: value` attribute line as printed. */
  attrs: Record<string, string>;
}

const ROUTE_RE = /^(\S+)?\s+(\w+) \[(\S+) ([^\]]*)\]( \*)? \((\d+)(?:\/[^)]*)?\)/;

function tuples(v: string): string[][] {
  return [...v.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]!.split(',').map((s) => s.trim()));
}

export function parseBirdRoutes(text: string): BirdRoute[] {
  const out: BirdRoute[] = [];
  let table = '';
  let prefix = '';
  let cur: BirdRoute | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim() || BANNER_RE.test(line)) continue;
    const tm = /^Table (\S+):$/.exec(line);
    if (tm) {
      table = tm[1]!;
      cur = undefined;
      continue;
    }
    if (!line.startsWith('\t')) {
      const m = ROUTE_RE.exec(line);
      if (!m) continue;
      if (m[1]) prefix = m[1];
      cur = {
        prefix,
        table,
        type: m[2]!,
        protocol: m[3]!,
        since: m[4]!,
        primary: m[5] !== undefined,
        preference: Number(m[6]),
        nexthops: [],
        communities: [],
        largeCommunities: [],
        extCommunities: [],
        attrs: {},
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const t = line.trim();
    const via = /^via (\S+)(?: on (\S+))?(?: weight (\d+))?/.exec(t);
    if (via) {
      const nh: BirdNexthop = { gateway: via[1]! };
      if (via[2]) nh.dev = via[2];
      if (via[3]) nh.weight = Number(via[3]);
      cur.nexthops.push(nh);
      continue;
    }
    const dev = /^dev (\S+)(?: weight (\d+))?$/.exec(t);
    if (dev) {
      cur.nexthops.push(dev[2] ? { dev: dev[1]!, weight: Number(dev[2]) } : { dev: dev[1]! });
      continue;
    }
    const kv = /^([A-Za-z][\w.]*): ?(.*)$/.exec(t);
    if (!kv) continue;
    const key = kv[1]!;
    const val = kv[2]!;
    cur.attrs[key] = val;
    if (key === 'Type') cur.source = val;
    else if (key === 'BGP.origin') cur.origin = val;
    else if (key === 'BGP.as_path') cur.asPath = val;
    else if (key === 'BGP.next_hop') cur.bgpNextHop = val.split(' ')[0]!;
    else if (key === 'BGP.local_pref') cur.localPref = Number(val);
    else if (key === 'BGP.med') cur.med = Number(val);
    else if (key === 'BGP.community') cur.communities = tuples(val).map((p) => p.join(':'));
    else if (key === 'BGP.large_community') cur.largeCommunities = tuples(val).map((p) => p.join(':'));
    else if (key === 'BGP.ext_community') cur.extCommunities = tuples(val).map((p) => p.join(', '));
  }
  return out;
}

export interface BirdBfdSession {
  /** The BFD protocol instance (e.g. `bfd1`). */
  protocol: string;
  address: string;
  interface: string;
  /** Up, Down, Init, AdminDown */
  state: string;
  since: string;
  /** Current transmit interval and detection timeout, in ms. */
  intervalMs: number;
  timeoutMs: number;
}

/** `show bfd sessions` → sessions of every BFD protocol. */
export function parseBirdBfdSessions(text: string): BirdBfdSession[] {
  const out: BirdBfdSession[] = [];
  let protocol = '';
  for (const line of text.split('\n')) {
    if (!line.trim() || BANNER_RE.test(line) || /^IP address\s+Interface/.test(line)) continue;
    const pm = /^(\S+):$/.exec(line);
    if (pm) {
      protocol = pm[1]!;
      continue;
    }
    const tok = line.trim().split(/\s+/);
    if (tok.length < 6) continue;
    let since = tok[3]!;
    let rest = tok.slice(4);
    if (DATE_RE.test(since) && rest.length > 2) {
      since = `${since} ${rest[0]}`;
      rest = rest.slice(1);
    }
    const interval = Number(rest[0]);
    const timeout = Number(rest[1]);
    if (!Number.isFinite(interval) || !Number.isFinite(timeout)) continue;
    out.push({ protocol, address: tok[0]!, interface: tok[1]!, state: tok[2]!, since, intervalMs: Math.round(interval * 1000), timeoutMs: Math.round(timeout * 1000) });
  }
  return out;
}
