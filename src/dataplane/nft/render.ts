/**
 * Pure: desired virtual servers → our nft tables, as per-virtual-server fragments (the
 * elements one virtual server owns) and one whole script (`nft -f`, one atomic transaction).
 *
 * The tables have a fixed structure whatever the number of Services; a virtual server is only
 * elements, so a change to one touches only its elements (see adapter.ts).
 *
 * NAT, `table inet bgpvs`: one Maglev bucket map per family, `be4`/`be6`:
 * (vip . proto . port . bucket) → (backend addr . port), read with
 * `jhash <flow> mod M seed S` (fixed seed: every node loading the same elements sends a flow
 * to the same backend). Sets of (vip . proto . port) choose the flow hash: `svc4` hashes
 * client address and port, `aff4` (sessionAffinity ClientIP) the client address only.
 * Cluster policy: a virtual server with a real server on another node (its `nodeName` is not
 * this node's, or unknown) is in `masq4`; its packets get our mark bit before DNAT, and the
 * postrouting chain masquerades marked packets whose new destination is in `remote4` (the
 * addresses of real servers on other nodes), as kube-proxy does, so the reply comes back
 * through this node to be un-NATed. Local policy never marks: the builder gives a Local
 * virtual server only this node's endpoints, so the backend sees the client's address.
 *
 * Cluster policy, node-level DSR (`cluster` context, IPv4), for real servers whose node is
 * on-link through the uplink: an ingress chain `cluster` of the netdev table runs the same Maglev lookup before the IP stack and, for buckets whose backend lives on
 * another such node, `fwd`s the unchanged packet (destination still the VIP, source the
 * client) to that node's address, neighbour-resolved, through `fwd4` ((vip . proto . port .
 * bucket) → node address; buckets of local backends have no element). The backend's node runs
 * the same lookup, finds the backend local (no `fwd4` element: no second forward), DNATs
 * without masquerade, and the reply leaves it straight for the client with the VIP as source.
 * A flow entering any node therefore reaches the same node's conntrack, and the backend sees
 * the client's address. Forwarded packets never reach this node's NAT table, so the
 * masquerade above stays as the fallback: for real servers whose node is not in the context
 * (unknown, not on-link) and for traffic that does not enter through the device.
 * IPv6 Cluster stays masqueraded: nft 1.0.6 cannot compile `fwd ip6 to <map lookup>`
 * (register exhaustion).
 *
 * Source ranges (spec.loadBalancerSourceRanges), in `table inet bgpvs`: a virtual server with
 * ranges is in `filt4`/`filt6` (vip . proto . port), each allowed range in `src4`/`src6`
 * (vip . proto . port . client CIDR, an interval set); chain `filter`, before DNAT, drops a
 * packet to a filtered virtual server whose (key . source) is not in it. Cluster DSR forwards
 * before the filter, but the receiving node holds the same elements and drops there; DR
 * bypasses the inet table, so a DR virtual server with ranges is forwarded by NAT instead.
 *
 * DR, `table netdev bgpvs_dr`: an ingress chain on the uplink matching frames addressed to
 * the node's MAC (so bridge-flooded copies are not forwarded twice), rewriting the
 * destination MAC through `drbe4`/`drbe6` ((vip . proto . port . bucket) → backend MAC) and
 * `fwd`ing out of the same device. The netdev table exists when DR or Cluster DSR is on.
 */
import ipaddr from 'ipaddr.js';
import { stableHash32 } from '../../maglev/hash.js';
import { DEFAULT_BUCKETS, buildMaglevTable } from '../../maglev/table.js';
import type { Protocol, RealServer, VirtualServer } from '../../model/types.js';

export const NAT_TABLE = 'bgpvs';
export const DR_TABLE = 'bgpvs_dr';
/** Same on every node: part of the flow → backend contract. */
export const HASH_SEED = 0xb9f5;
export { DEFAULT_BUCKETS };
/**
 * Packet mark bit meaning "DNATed by bgpvs for a Cluster-policy virtual server": set in
 * prerouting, read and cleared in postrouting. Outside kube-proxy's 0x4000/0x8000,
 * Cilium's 0x0f00 and Calico's default 0xffff0000.
 */
export const DEFAULT_MASQ_MARK = 0x1000;

export type MaglevFn = (backends: { id: string; weight: number }[], size: number) => number[];

/** Default Maglev: src/maglev's builder, slot → index into the given list (-1 = none). */
export const maglev: MaglevFn = (backends, size) => {
  const t = buildMaglevTable(backends.map((b) => ({ name: b.id, weight: b.weight })), size);
  const idx = new Map(backends.map((b, i) => [b.id, i]));
  return Array.from(t.slots, (s) => (s < 0 ? -1 : idx.get(t.backends[s]!)!));
};

export interface DrContext {
  /** Device the VIP traffic arrives on and backends are reached through. */
  device: string;
  /** MAC of `device` (frames to other MACs are flooded copies, ignored). */
  deviceMac: string;
  /** Backend IP → MAC (on-link on `device`). */
  backendMacs: ReadonlyMap<string, string>;
}

/** Node-level DSR for Cluster policy (IPv4). */
export interface ClusterDsrContext {
  /** Uplink: VIP traffic arrives on it, and the nodes below are on-link through it. */
  device: string;
  /** Other nodes reachable on-link through `device`: node name → IPv4 address. */
  nodes: ReadonlyMap<string, string>;
}

/** What every fragment of one render depends on besides its virtual server. */
export interface RenderContext {
  /** This node: a real server whose `nodeName` differs (or is unknown) is remote and gets SNAT. */
  nodeName: string;
  /** Mark bit for masquerading (default DEFAULT_MASQ_MARK). */
  masqMark?: number;
  buckets?: number;
  maglev?: MaglevFn;
  dr?: DrContext;
  /** Node-level DSR for Cluster (none: masquerade every remote real server). */
  cluster?: ClusterDsrContext;
}

export interface RenderInput extends RenderContext {
  virtualServers: readonly VirtualServer[];
}

export interface Skipped {
  vip: string;
  port: number;
  protocol: string;
  reason: string;
}

export type Table = 'inet' | 'netdev';
export type Element = readonly [key: string, value: string];

/** The elements one virtual server owns in our tables. */
export interface Fragment {
  /** Unique per table and virtual server: `inet 10.100.0.10 . tcp . 80`. */
  id: string;
  table: Table;
  /** Render order: family, VIP, protocol, port. */
  order: string;
  /** Its key `vip . proto . port`. */
  key: string;
  /** Elements of shared sets: [set, element] (membership sets, and remote backend addresses). */
  sets: readonly (readonly [string, string])[];
  /** Bucket map it fills (`be4`, `drbe6`, ...). */
  map: string;
  /** Its bucket map's values by bucket ('' = empty bucket): element `key . b` → `buckets[b]`. */
  buckets: readonly string[];
  /** Its bucket elements as script text, joined as the whole script lists them. */
  text: string;
  /** Its Cluster DSR forwarding fragment (netdev `fwd4`), when some bucket goes to another on-link node. */
  forward?: Fragment;
  /** Programmed, but not as asked (e.g. more backends than buckets): for the log. */
  warning?: string;
}

/**
 * Maglev fills M buckets, so at most M backends can serve one virtual server. Above that, the
 * M whose `address:port` hash highest serve: the same choice on every node (Cluster DSR needs
 * the nodes' tables to agree), and stable as other backends come and go. Order is kept.
 */
export function fitBackends<T extends { address: string; port: number }>(live: readonly T[], m: number): { serving: readonly T[]; warning?: string } {
  if (live.length <= m) return { serving: live };
  const id = (r: T) => `${r.address}:${r.port}`;
  const ranked = [...live].sort((a, b) => stableHash32(id(b)) - stableHash32(id(a)) || (id(a) < id(b) ? -1 : 1));
  const keep = new Set(ranked.slice(0, m));
  return {
    serving: live.filter((r) => keep.has(r)),
    warning: `tooManyBackends: ${live.length} ready backends, the Maglev table has ${m} buckets (--nft.maglev-size); ${m} of them serve`,
  };
}

/** A fragment's bucket elements: `key . bucket` → value. */
export function fragmentElements(f: Fragment): Element[] {
  const out: Element[] = [];
  f.buckets.forEach((v, b) => {
    if (v !== '') out.push([`${f.key} . ${b}`, v]);
  });
  return out;
}

/** A set's or map's name, declaration and elements (a set's values are ''), in render order. */
export interface MapModel {
  table: Table;
  kind: 'map' | 'set';
  name: string;
  decl: string;
  elements: Element[];
}

export interface RenderResult {
  script: string;
  /** Every set and map of the script with its elements. */
  maps: MapModel[];
  fragments: Fragment[];
  skipped: Skipped[];
}

const proto = (p: Protocol): string => p.toLowerCase();
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
const l3Of = (f: '4' | '6'): string => (f === '6' ? 'ip6' : 'ip');

/** Sort key of a virtual server: family, VIP, protocol, port. */
const orderOf = (vs: VirtualServer): string => `${vs.family}|${vs.vip}|${vs.protocol}|${String(vs.port).padStart(5, '0')}`;

/** Digest of a Cluster DSR context, for caching fragments rendered with it. */
export function clusterDigest(c: ClusterDsrContext | undefined): string {
  if (!c) return '';
  return `${c.device}|${[...c.nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, a]) => `${n}=${a}`).join(',')}`;
}

/** Digest of a DR context, for caching fragments rendered with it. */
export function drDigest(dr: DrContext | undefined): string {
  if (!dr) return '';
  return `${dr.device}|${dr.deviceMac}|${[...dr.backendMacs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([a, m]) => `${a}=${m}`).join(',')}`;
}

/**
 * One virtual server → its fragment, or why it is not programmed. Pure; the result depends
 * only on `vs`, `ctx.nodeName`, buckets, Maglev, and (DR only) `ctx.dr`.
 */
export function renderFragment(vs: VirtualServer, ctx: RenderContext): Fragment | Skipped {
  const skip = (reason: string): Skipped => ({ vip: vs.vip, port: vs.port, protocol: vs.protocol, reason });
  const m = ctx.buckets ?? DEFAULT_BUCKETS;
  const mg = ctx.maglev ?? maglev;
  const f = vs.family === 'IPv6' ? '6' : '4';
  const weighted = vs.realServers.filter((r) => r.weight > 0);
  if (weighted.length === 0) return skip('noBackendWithWeight');
  const key = `${vs.vip} . ${proto(vs.protocol)} . ${vs.port}`;
  const affinity = vs.persistenceSeconds > 0;
  const filtered = vs.sourceRanges !== undefined;
  if (vs.forwarding === 'dr' && !filtered) {
    const dr = ctx.dr;
    if (!dr) return skip('drWithoutDevice');
    const withMacAll = weighted.filter((r) => dr.backendMacs.has(r.address));
    if (withMacAll.length === 0) return skip('drNoBackendMac');
    const { serving: withMac, warning } = fitBackends(withMacAll, m);
    const slots = mg(withMac.map((r) => ({ id: `${r.address}:${r.port}`, weight: r.weight })), m);
    const { buckets, text } = bucketElements(key, slots, withMac.map((r) => dr.backendMacs.get(r.address)!));
    return { id: `netdev ${key}`, table: 'netdev', order: orderOf(vs), key, sets: [[`dr${affinity ? 'aff' : 'svc'}${f}`, key]], map: `drbe${f}`, buckets, text, ...(warning ? { warning } : {}) };
  }
  if (vs.forwarding !== 'nat' && !(vs.forwarding === 'dr' && filtered)) return skip(`forwarding ${vs.forwarding} not supported by nft`);
  const fit = fitBackends(weighted, m);
  const live = fit.serving;
  const warning = vs.forwarding === 'dr' ? 'drWithSourceRanges: forwarded by nat (the source filter sits before DNAT)' : fit.warning;
  const slots = mg(live.map((r) => ({ id: `${r.address}:${r.port}`, weight: r.weight })), m);
  const { buckets, text } = bucketElements(key, slots, live.map((r) => `${r.address} . ${r.port}`));
  const sets: [string, string][] = [[`${affinity ? 'aff' : 'svc'}${f}`, key]];
  if (filtered) {
    sets.push([`filt${f}`, key]);
    for (const c of vs.sourceRanges!) sets.push([`src${f}`, `${key} . ${c}`]);
  }
  const far = [...new Set(live.filter((r) => r.nodeName !== ctx.nodeName).map((r) => r.address))];
  if (far.length > 0) {
    sets.push([`masq${f}`, key]);
    for (const a of far) sets.push([`remote${f}`, a]);
  }
  const fr: Fragment = { id: `inet ${key}`, table: 'inet', order: orderOf(vs), key, sets, map: `be${f}`, buckets, text, ...(warning ? { warning } : {}) };
  const forward = forwardFragment(vs, ctx, key, affinity, slots, live);
  return forward ? { ...fr, forward } : fr;
}

/**
 * Cluster DSR: the buckets whose backend is on another node on-link through the device,
 * valued with that node's address (the same Maglev slots as `be4`). IPv4 only.
 */
function forwardFragment(vs: VirtualServer, ctx: RenderContext, key: string, affinity: boolean, slots: readonly number[], live: readonly RealServer[]): Fragment | undefined {
  const c = ctx.cluster;
  if (!c || vs.family !== 'IPv4') return undefined;
  const values = live.map((r) => (r.nodeName !== undefined && r.nodeName !== ctx.nodeName ? c.nodes.get(r.nodeName) ?? '' : ''));
  if (values.every((v) => v === '')) return undefined;
  const { buckets, text } = bucketElements(key, slots.map((s) => (s >= 0 && values[s] !== '' ? s : -1)), values);
  return { id: `netdev fwd ${key}`, table: 'netdev', order: orderOf(vs), key, sets: [[`fw${affinity ? 'aff' : 'svc'}4`, key]], map: 'fwd4', buckets, text };
}

const ELEMENT_SEP = ',\n      ';

/** Bucket values of one virtual server (slot → index into `values`, -1 = empty), and their script text. */
function bucketElements(key: string, slots: readonly number[], values: readonly string[]): { buckets: string[]; text: string } {
  const buckets = new Array<string>(slots.length);
  let text = '';
  for (let b = 0; b < slots.length; b++) {
    const s = slots[b]!;
    buckets[b] = s < 0 ? '' : values[s]!;
    if (s >= 0) text += `${text ? ELEMENT_SEP : ''}${key} . ${b} : ${values[s]!}`;
  }
  return { buckets, text };
}

export const isFragment = (r: Fragment | Skipped): r is Fragment => 'id' in r;

/** Element text as nft writes it: `key : value` in a map, `key` in a set. */
export const elementText = ([k, v]: Element): string => (v === '' ? k : `${k} : ${v}`);

interface Decl {
  table: Table;
  kind: 'map' | 'set';
  name: string;
  decl: string;
}

const vsKeyType = (f: '4' | '6'): string => `type ipv${f}_addr . inet_proto . inet_service`;

/** Sets and maps of our tables, in render order (DR ones only with a DR context, forwarding ones only with Cluster DSR). */
export function declarations(dr: boolean, fwd = false): Decl[] {
  const out: Decl[] = [];
  for (const f of ['4', '6'] as const) {
    const l3 = l3Of(f);
    out.push({ table: 'inet', kind: 'map', name: `be${f}`, decl: `typeof ${l3} daddr . meta l4proto . th dport . numgen inc mod 2 : ${l3} daddr . th dport` });
    for (const s of ['svc', 'aff', 'masq']) out.push({ table: 'inet', kind: 'set', name: `${s}${f}`, decl: vsKeyType(f) });
    out.push({ table: 'inet', kind: 'set', name: `remote${f}`, decl: `type ipv${f}_addr` });
    out.push({ table: 'inet', kind: 'set', name: `filt${f}`, decl: vsKeyType(f) });
    out.push({ table: 'inet', kind: 'set', name: `src${f}`, decl: `${vsKeyType(f)} . ipv${f}_addr\n    flags interval` });
  }
  if (dr) {
    for (const f of ['4', '6'] as const) {
      out.push({ table: 'netdev', kind: 'map', name: `drbe${f}`, decl: `typeof ${l3Of(f)} daddr . meta l4proto . th dport . numgen inc mod 2 : ether daddr` });
      for (const s of ['drsvc', 'draff']) out.push({ table: 'netdev', kind: 'set', name: `${s}${f}`, decl: vsKeyType(f) });
    }
  }
  if (fwd) {
    out.push({ table: 'netdev', kind: 'map', name: 'fwd4', decl: 'typeof ip daddr . meta l4proto . th dport . numgen inc mod 2 : ip daddr' });
    for (const s of ['fwsvc', 'fwaff']) out.push({ table: 'netdev', kind: 'set', name: `${s}4`, decl: vsKeyType('4') });
  }
  return out;
}

const L4 = 'meta l4proto { tcp, udp, sctp }';
const jhash = (l3: string, affinity: boolean, m: number): string =>
  `jhash ${l3} saddr${affinity ? '' : ' . th sport'} mod ${m} seed 0x${HASH_SEED.toString(16)}`;

function natChains(ctx: RenderContext): string {
  const m = ctx.buckets ?? DEFAULT_BUCKETS;
  const markBits = (ctx.masqMark ?? DEFAULT_MASQ_MARK) >>> 0;
  const mark = hex(markBits);
  // source ranges: before DNAT (dstnat is -100), so the destination is still the VIP
  let s = '  chain filter {\n    type filter hook prerouting priority dstnat - 10; policy accept;\n';
  for (const f of ['4', '6'] as const) {
    const l3 = l3Of(f);
    const vsKey = `${l3} daddr . meta l4proto . th dport`;
    s += `    ${L4} ${vsKey} @filt${f} ${vsKey} . ${l3} saddr != @src${f} drop\n`;
  }
  s += '  }\n';
  s += '  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n';
  for (const f of ['4', '6'] as const) {
    s += `    ${l3Of(f)} daddr . meta l4proto . th dport @masq${f} meta mark set meta mark | ${mark}\n`;
  }
  for (const f of ['4', '6'] as const) {
    const l3 = l3Of(f);
    const vsKey = `${l3} daddr . meta l4proto . th dport`;
    s += `    ${L4} ${vsKey} @aff${f} dnat ${l3} to ${vsKey} . ${jhash(l3, true, m)} map @be${f}\n`;
    s += `    ${L4} ${vsKey} @svc${f} dnat ${l3} to ${vsKey} . ${jhash(l3, false, m)} map @be${f}\n`;
  }
  s += '  }\n';
  s +=
    '  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n' +
    `    meta mark & ${mark} == 0x00000000 return\n    meta mark set meta mark & ${hex(~markBits >>> 0)}\n` +
    '    ip daddr @remote4 masquerade\n    ip6 daddr @remote6 masquerade\n  }\n';
  return s;
}

function drChains(ctx: RenderContext, dr: DrContext): string {
  const m = ctx.buckets ?? DEFAULT_BUCKETS;
  let s = `  chain ingress {\n    type filter hook ingress device "${dr.device}" priority 0; policy accept;\n`;
  for (const f of ['4', '6'] as const) {
    const l3 = l3Of(f);
    const vsKey = `${l3} daddr . meta l4proto . th dport`;
    for (const [set, aff] of [[`draff${f}`, true], [`drsvc${f}`, false]] as const) {
      s +=
        `    ether daddr ${dr.deviceMac} ${L4} ${vsKey} @${set} ether saddr set ${dr.deviceMac} ` +
        `ether daddr set ${vsKey} . ${jhash(l3, aff, m)} map @drbe${f} fwd to "${dr.device}"\n`;
    }
  }
  return s + '  }\n';
}

/**
 * Cluster DSR: frames for this host (not bridge-flooded copies) to a Cluster VIP whose bucket
 * has a `fwd4` element leave unchanged for that node, neighbour-resolved on the same device;
 * no element (local backend) → on to the NAT table. `fwd` decrements the TTL (and would wrap
 * it at 0): `ttl > 1` bounds the ping-pong of two nodes whose tables briefly disagree (each
 * sees the bucket's backend on the other) to the packet's TTL.
 */
function clusterChains(ctx: RenderContext, c: ClusterDsrContext): string {
  const m = ctx.buckets ?? DEFAULT_BUCKETS;
  const vsKey = 'ip daddr . meta l4proto . th dport';
  let s = `  chain cluster {\n    type filter hook ingress device "${c.device}" priority 0; policy accept;\n`;
  for (const [set, aff] of [['fwaff4', true], ['fwsvc4', false]] as const) {
    s += `    meta pkttype host ip ttl > 1 ${L4} ${vsKey} @${set} fwd ip to ${vsKey} . ${jhash('ip', aff, m)} map @fwd4 device "${c.device}"\n`;
  }
  return s + '  }\n';
}

/** Everything but the elements: when this changes, the adapter replaces the tables. */
export function skeleton(ctx: RenderContext): string {
  const decls = declarations(!!ctx.dr, !!ctx.cluster)
    .map((d) => `${d.table} ${d.kind} ${d.name} ${d.decl}`)
    .join('\n');
  return `${decls}\n${natChains(ctx)}${ctx.dr ? drChains(ctx, ctx.dr) : ''}${ctx.cluster ? clusterChains(ctx, ctx.cluster) : ''}`;
}

const byOrder = (a: Fragment, b: Fragment): number => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0);

function cmpBytes(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Addresses in numeric order. */
function sortAddresses(addrs: Iterable<string>): string[] {
  return [...addrs]
    .map((a) => ipaddr.parse(a))
    .sort((a, b) => cmpBytes(a.toByteArray(), b.toByteArray()))
    .map((a) => a.toString());
}

/** Every set and map with the elements the fragments give it (shared elements once, addresses in numeric order). */
export function collectMaps(fragments: readonly Fragment[], dr: boolean, fwd = false): MapModel[] {
  const sorted = [...fragments].sort(byOrder);
  const maps = declarations(dr, fwd).map((d) => ({ ...d, elements: [] as Element[] }));
  const by = new Map(maps.map((m) => [`${m.table} ${m.name}`, m]));
  const seen = new Set<string>();
  for (const fr of sorted) {
    by.get(`${fr.table} ${fr.map}`)?.elements.push(...fragmentElements(fr));
    for (const [set, el] of fr.sets) {
      const k = `${fr.table} ${set} ${el}`;
      if (seen.has(k)) continue;
      seen.add(k);
      by.get(`${fr.table} ${set}`)?.elements.push([el, '']);
    }
  }
  for (const m of maps) if (m.name.startsWith('remote')) m.elements = sortAddresses(m.elements.map(([a]) => a)).map((a) => [a, ''] as const);
  return maps;
}

function renderDecl(d: Decl, elements: readonly string[], size: number | undefined): string {
  let s = `  ${d.kind} ${d.name} {\n    ${d.decl}\n`;
  if (size !== undefined) s += `    size ${size}\n`;
  if (elements.length > 0) s += `    elements = {\n      ${elements.join(ELEMENT_SEP)}\n    }\n`;
  return s + '  }\n';
}

/**
 * The whole script for the fragments: both tables replaced in one transaction. `sizes`
 * (`table name` → elements) declares a set's or map's size: the kernel sizes its hash table
 * for that many at once instead of growing it element by element, and refuses more. Written
 * straight from the fragments (a map's text is its fragments' blocks joined), the same text
 * as rendering `collectMaps`' models.
 */
export function assemble(fragments: readonly Fragment[], ctx: RenderContext, sizes?: ReadonlyMap<string, number>): string {
  const sorted = [...fragments].sort(byOrder);
  const decls = declarations(!!ctx.dr, !!ctx.cluster);
  const chunks = new Map<string, string[]>(decls.map((d) => [`${d.table} ${d.name}`, []]));
  const remote = new Map<string, Set<string>>();
  for (const fr of sorted) {
    if (fr.text) chunks.get(`${fr.table} ${fr.map}`)?.push(fr.text);
    for (const [set, el] of fr.sets) {
      const k = `${fr.table} ${set}`;
      if (set.startsWith('remote')) {
        const r = remote.get(k) ?? new Set<string>();
        r.add(el);
        remote.set(k, r);
      } else chunks.get(k)?.push(el);
    }
  }
  for (const [k, addrs] of remote) chunks.set(k, sortAddresses(addrs));
  const body = (t: Table): string => decls.filter((d) => d.table === t).map((d) => renderDecl(d, chunks.get(`${d.table} ${d.name}`)!, sizes?.get(`${d.table} ${d.name}`))).join('');
  let s = `# bgpvs: generated, do not edit\ntable inet ${NAT_TABLE} {}\ndelete table inet ${NAT_TABLE}\ntable inet ${NAT_TABLE} {\n`;
  s += body('inet') + natChains(ctx) + '}\n';
  s += `table netdev ${DR_TABLE} {}\ndelete table netdev ${DR_TABLE}\n`;
  if (ctx.dr || ctx.cluster) s += `table netdev ${DR_TABLE} {\n${body('netdev')}${ctx.dr ? drChains(ctx, ctx.dr) : ''}${ctx.cluster ? clusterChains(ctx, ctx.cluster) : ''}}\n`;
  return s;
}

/** Render the whole desired state. Output is deterministic (sorted by family, VIP, proto, port). */
export function renderNft(input: RenderInput): RenderResult {
  const fragments: Fragment[] = [];
  const skipped: Skipped[] = [];
  const seen = new Set<string>();
  for (const vs of [...input.virtualServers].sort((a, b) => (orderOf(a) < orderOf(b) ? -1 : orderOf(a) > orderOf(b) ? 1 : 0))) {
    const r = renderFragment(vs, input);
    if (!isFragment(r)) skipped.push(r);
    else if (seen.has(r.id)) skipped.push({ vip: vs.vip, port: vs.port, protocol: vs.protocol, reason: 'duplicate' });
    else {
      seen.add(r.id);
      fragments.push(r);
      if (r.forward) fragments.push(r.forward);
    }
  }
  return { script: assemble(fragments, input), maps: collectMaps(fragments, !!input.dr, !!input.cluster), fragments, skipped };
}
