/**
 * Pure: desired virtual servers → one whole nft script (`nft -f`, one atomic transaction).
 *
 * NAT: `table inet bgpvs`, a prerouting dispatch verdict map (vip . proto . port → goto a
 * per-virtual-server chain) and, per virtual server, a Maglev bucket map
 * (bucket → backend addr . port) read with `jhash <flow> mod M` and a fixed seed, so every
 * node loading the same table sends a flow to the same backend.
 * Cluster policy: a virtual server whose real servers include one on another node (its
 * `nodeName` is not this node's, or unknown) sets our mark bit before DNAT; the postrouting
 * chain masquerades marked packets whose new destination is in `remote4`/`remote6` (the
 * addresses of real servers on other nodes), as kube-proxy does, so the reply comes back
 * through this node to be un-NATed. Local policy never marks: the builder gives a Local
 * virtual server only this node's endpoints, so the backend sees the client's address.
 * DR: `table netdev bgpvs_dr`, an ingress chain on the uplink matching frames addressed to
 * the node's MAC (so bridge-flooded copies are not forwarded twice), rewriting the
 * destination MAC through a Maglev bucket map and `fwd`ing out of the same device.
 */
import ipaddr from 'ipaddr.js';
import { buildMaglevTable } from '../../maglev/table.js';
import type { Protocol, VirtualServer } from '../../model/types.js';

export const NAT_TABLE = 'bgpvs';
export const DR_TABLE = 'bgpvs_dr';
/** Same on every node: part of the flow → backend contract. */
export const HASH_SEED = 0xb9f5;
/** Buckets per virtual server (prime). Small on purpose: see the bench notes. */
export const DEFAULT_BUCKETS = 251;
/**
 * Packet mark bit meaning "DNATed by bgpvs for a Cluster-policy virtual server": set in the
 * virtual server's chain, read and cleared in postrouting. Outside kube-proxy's 0x4000/0x8000,
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

export interface RenderInput {
  virtualServers: readonly VirtualServer[];
  /** This node: a real server whose `nodeName` differs (or is unknown) is remote and gets SNAT. */
  nodeName: string;
  /** Mark bit for masquerading (default DEFAULT_MASQ_MARK). */
  masqMark?: number;
  buckets?: number;
  maglev?: MaglevFn;
  dr?: DrContext;
}

export interface Skipped {
  vip: string;
  port: number;
  protocol: string;
  reason: string;
}

/**
 * A map's (or set's) declaration and its elements (key text → value text; a set's values are
 * ''), both in render order.
 */
export interface MapModel {
  table: 'inet' | 'netdev';
  kind?: 'map' | 'set';
  name: string;
  decl: string;
  elements: [string, string][];
}

export interface RenderResult {
  script: string;
  maps: MapModel[];
  skipped: Skipped[];
}

const proto = (p: Protocol): string => p.toLowerCase();

function cmpBytes(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** nft identifier for a virtual server: kind-family-proto-vip-port (IPv6 colons → dots, expanded). */
export function vsName(kind: 'nat' | 'dr', vs: { vip: string; protocol: Protocol; port: number }): string {
  const a = ipaddr.parse(vs.vip);
  const addr = a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toNormalizedString().replaceAll(':', '.') : a.toString();
  return `${kind}${a.kind() === 'ipv6' ? 6 : 4}-${proto(vs.protocol)}-${addr}-${vs.port}`;
}

const byKey = (a: VirtualServer, b: VirtualServer): number => {
  const ka = `${a.family}|${a.vip}|${a.protocol}|${String(a.port).padStart(5, '0')}`;
  const kb = `${b.family}|${b.vip}|${b.protocol}|${String(b.port).padStart(5, '0')}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

function hashExpr(vs: VirtualServer, m: number): string {
  const l3 = vs.family === 'IPv6' ? 'ip6' : 'ip';
  const p = proto(vs.protocol);
  // ClientIP affinity without state: hash the client address only.
  const fields = vs.persistenceSeconds > 0 ? `${l3} saddr` : `${l3} saddr . ${p} sport`;
  return `jhash ${fields} mod ${m} seed 0x${HASH_SEED.toString(16)}`;
}

/** Element text as nft writes it: `key : value` in a map, `key` in a set. */
export const elementText = ([k, v]: readonly [string, string]): string => (v === '' ? k : `${k} : ${v}`);

function elementsBlock(els: readonly [string, string][], indent: string): string {
  if (els.length === 0) return '';
  return `${indent}elements = {\n${els.map((e) => `${indent}  ${elementText(e)}`).join(',\n')}\n${indent}}\n`;
}

function renderMap(m: MapModel): string {
  return `  ${m.kind ?? 'map'} ${m.name} {\n    ${m.decl}\n${elementsBlock(m.elements, '    ')}  }\n`;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Render the whole desired state. Output is deterministic (sorted by family, VIP, proto, port). */
export function renderNft(input: RenderInput): RenderResult {
  const m = input.buckets ?? DEFAULT_BUCKETS;
  const mg = input.maglev ?? maglev;
  const mark = hex(input.masqMark ?? DEFAULT_MASQ_MARK);
  const remote: Record<'4' | '6', Set<string>> = { '4': new Set(), '6': new Set() };
  const skipped: Skipped[] = [];
  const vss = [...input.virtualServers].sort(byKey);
  const natMaps: MapModel[] = [];
  const natChains: string[] = [];
  const disp: Record<'4' | '6', [string, string][]> = { '4': [], '6': [] };
  const drMaps: MapModel[] = [];
  const drChains: string[] = [];
  const drDisp: Record<'4' | '6', [string, string][]> = { '4': [], '6': [] };
  const skip = (vs: VirtualServer, reason: string): void => {
    skipped.push({ vip: vs.vip, port: vs.port, protocol: vs.protocol, reason });
  };

  for (const vs of vss) {
    const f = vs.family === 'IPv6' ? '6' : '4';
    const l3 = f === '6' ? 'ip6' : 'ip';
    const p = proto(vs.protocol);
    const live = vs.realServers.filter((r) => r.weight > 0);
    if (live.length === 0) {
      skip(vs, 'noBackendWithWeight');
      continue;
    }
    const dispKey = `${vs.vip} . ${p} . ${vs.port}`;
    if (vs.forwarding === 'dr') {
      if (!input.dr) {
        skip(vs, 'drWithoutDevice');
        continue;
      }
      const dr = input.dr;
      const withMac = live.filter((r) => dr.backendMacs.has(r.address));
      if (withMac.length === 0) {
        skip(vs, 'drNoBackendMac');
        continue;
      }
      const name = vsName('dr', vs);
      const slots = mg(withMac.map((r) => ({ id: `${r.address}:${r.port}`, weight: r.weight })), m);
      drMaps.push({
        table: 'netdev',
        name,
        decl: 'typeof numgen inc mod 2 : ether daddr',
        elements: slots.flatMap((s, b) => (s < 0 ? [] : [[String(b), dr.backendMacs.get(withMac[s]!.address)!] as [string, string]])),
      });
      drChains.push(
        `  chain ${name} {\n    meta l4proto ${p} ether saddr set ${dr.deviceMac} ether daddr set ${hashExpr(vs, m)} map @${name} fwd to "${dr.device}"\n  }\n`,
      );
      drDisp[f].push([dispKey, `goto ${name}`]);
      continue;
    }
    if (vs.forwarding !== 'nat') {
      skip(vs, `forwarding ${vs.forwarding} not supported by nft`);
      continue;
    }
    const name = vsName('nat', vs);
    const slots = mg(live.map((r) => ({ id: `${r.address}:${r.port}`, weight: r.weight })), m);
    natMaps.push({
      table: 'inet',
      name,
      decl: `typeof numgen inc mod 2 : ${l3} daddr . ${p} dport`,
      elements: slots.flatMap((s, b) => (s < 0 ? [] : [[String(b), `${live[s]!.address} . ${live[s]!.port}`] as [string, string]])),
    });
    const far = live.filter((r) => r.nodeName !== input.nodeName);
    for (const r of far) remote[f].add(r.address);
    const markStmt = far.length > 0 ? `meta mark set meta mark | ${mark} ` : '';
    natChains.push(`  chain ${name} {\n    meta l4proto ${p} ${markStmt}dnat ${l3} to ${hashExpr(vs, m)} map @${name}\n  }\n`);
    disp[f].push([dispKey, `goto ${name}`]);
  }

  const dispMaps = (tbl: 'inet' | 'netdev', prefix: string, d: Record<'4' | '6', [string, string][]>): MapModel[] => [
    { table: tbl, name: `${prefix}4`, decl: 'type ipv4_addr . inet_proto . inet_service : verdict', elements: d['4'] },
    { table: tbl, name: `${prefix}6`, decl: 'type ipv6_addr . inet_proto . inet_service : verdict', elements: d['6'] },
  ];
  const sortAddrs = (xs: Set<string>): [string, string][] =>
    [...xs].map((a) => ipaddr.parse(a)).sort((a, b) => cmpBytes(a.toByteArray(), b.toByteArray())).map((a) => [a.toString(), ''] as [string, string]);
  const remoteSets: MapModel[] = [
    { table: 'inet', kind: 'set', name: 'remote4', decl: 'type ipv4_addr', elements: sortAddrs(remote['4']) },
    { table: 'inet', kind: 'set', name: 'remote6', decl: 'type ipv6_addr', elements: sortAddrs(remote['6']) },
  ];
  const natAll = [...dispMaps('inet', 'svc', disp), ...remoteSets, ...natMaps];
  let s = `# bgpvs: generated, do not edit\ntable inet ${NAT_TABLE} {}\ndelete table inet ${NAT_TABLE}\ntable inet ${NAT_TABLE} {\n`;
  s += natAll.map(renderMap).join('');
  s += natChains.join('');
  s +=
    '  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n' +
    '    ip daddr . meta l4proto . th dport vmap @svc4\n    ip6 daddr . meta l4proto . th dport vmap @svc6\n  }\n' +
    '  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n' +
    `    meta mark & ${mark} == 0x00000000 return\n    meta mark set meta mark & ${hex(~(input.masqMark ?? DEFAULT_MASQ_MARK) >>> 0)}\n` +
    '    ip daddr @remote4 masquerade\n    ip6 daddr @remote6 masquerade\n  }\n}\n';
  const drAll: MapModel[] = [];
  s += `table netdev ${DR_TABLE} {}\ndelete table netdev ${DR_TABLE}\n`;
  if (input.dr) {
    drAll.push(...dispMaps('netdev', 'drsvc', drDisp), ...drMaps);
    s += `table netdev ${DR_TABLE} {\n`;
    s += drAll.map(renderMap).join('');
    s += drChains.join('');
    s +=
      `  chain ingress {\n    type filter hook ingress device "${input.dr.device}" priority 0; policy accept;\n` +
      `    ether daddr ${input.dr.deviceMac} ip daddr . meta l4proto . th dport vmap @drsvc4\n` +
      `    ether daddr ${input.dr.deviceMac} ip6 daddr . meta l4proto . th dport vmap @drsvc6\n  }\n}\n`;
  }
  return { script: s, maps: [...natAll, ...drAll], skipped };
}
