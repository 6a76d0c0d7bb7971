/**
 * nftables data plane: renders the whole desired state, re-reads our two tables from the
 * kernel (`nft -j list table ...`) and applies, in one `nft -f` transaction, either
 * element-level updates (when only map elements differ) or the whole script.
 * Owns only `table inet bgpvs` and `table netdev bgpvs_dr`.
 */
import type { Logger } from 'pino';
import type { Runner } from '../../exec/run.js';
import type { VirtualServer } from '../../model/types.js';
import type { DataPlane, SyncResult } from '../types.js';
import { DR_TABLE, NAT_TABLE, elementText, renderNft, type DrContext, type MaglevFn, type MapModel } from './render.js';

export interface NftDataPlaneOptions {
  run: Runner;
  logger: Logger;
  /** This node's name: real servers on other nodes get SNAT (Cluster policy). */
  nodeName: string;
  /** Mark bit for masquerading (default DEFAULT_MASQ_MARK). */
  masqMark?: number;
  /** Network namespace to act in (tests, bench). */
  netns?: string;
  buckets?: number;
  maglev?: MaglevFn;
  /** Resolves the DR context (device, its MAC, backend MACs) for this pass; none = no DR. */
  drContext?: (desired: readonly VirtualServer[]) => Promise<DrContext | undefined>;
}

/**
 * Kernel view of our tables: chains (`table/name`, with `+masq` when a rule sets a mark) and
 * maps/sets with their elements (a set's values are '').
 */
export interface KernelState {
  chains: Set<string>;
  maps: Map<string, { table: 'inet' | 'netdev'; elements: Map<string, string> }>;
}

/** Text of a JSON element key or value, in the form the renderer writes. */
export function jsonValueText(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.concat)) return o.concat.map(jsonValueText).join(' . ');
    for (const verdict of ['goto', 'jump'] as const) {
      const t = o[verdict] as { target?: string } | undefined;
      if (t?.target) return `${verdict} ${t.target}`;
    }
    if ('elem' in o) return jsonValueText((o.elem as { val: unknown }).val);
  }
  return JSON.stringify(v);
}

/** Parse `nft -j list table` output (pure). */
export function parseNftJson(text: string, into: KernelState, table: 'inet' | 'netdev'): void {
  const doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  for (const item of doc.nftables ?? []) {
    if (item.chain) into.chains.add(`${table}/${(item.chain as { name: string }).name}`);
    const r = item.rule as { chain: string; expr?: Record<string, unknown>[] } | undefined;
    const setsMark = (x: Record<string, unknown>): boolean => (x.mangle as { key?: { meta?: { key?: string } } } | undefined)?.key?.meta?.key === 'mark';
    if (r?.expr?.some(setsMark) && r.chain !== 'postrouting') into.chains.add(`${table}/${r.chain}+masq`);
    const m = (item.map ?? item.set) as { name: string; elem?: unknown[] } | undefined;
    if (m) {
      const elements = new Map<string, string>();
      for (const e of m.elem ?? []) {
        if (item.set) elements.set(jsonValueText(e), '');
        else {
          const [k, v] = e as [unknown, unknown];
          elements.set(jsonValueText(k), jsonValueText(v));
        }
      }
      into.maps.set(`${table}/${m.name}`, { table, elements });
    }
  }
}

const tableName = (t: 'inet' | 'netdev'): string => (t === 'inet' ? `inet ${NAT_TABLE}` : `netdev ${DR_TABLE}`);

/**
 * Pure diff: element statements turning `cur` into the desired maps, or undefined when the
 * structure (maps or chains) differs and the whole script must be applied.
 */
export function elementOps(cur: KernelState, maps: readonly MapModel[], chains: readonly string[]): string[] | undefined {
  const want = new Set(maps.map((m) => `${m.table}/${m.name}`));
  if (want.size !== cur.maps.size || [...want].some((k) => !cur.maps.has(k))) return undefined;
  const wantChains = new Set(chains);
  if (wantChains.size !== cur.chains.size || [...wantChains].some((c) => !cur.chains.has(c))) return undefined;
  const ops: string[] = [];
  for (const m of maps) {
    const have = cur.maps.get(`${m.table}/${m.name}`)!.elements;
    const wantEl = new Map(m.elements);
    const del = [...have].filter(([k, v]) => wantEl.get(k) !== v).map(([k]) => k);
    const add = m.elements.filter(([k, v]) => have.get(k) !== v);
    const t = tableName(m.table);
    if (del.length) ops.push(`delete element ${t} ${m.name} { ${del.join(', ')} }`);
    if (add.length) ops.push(`add element ${t} ${m.name} { ${add.map(elementText).join(', ')} }`);
  }
  return ops;
}

/** Chain names a render defines (`table/name`, and `table/name+masq` when it marks), read from its script. */
function renderedChains(script: string): string[] {
  const out: string[] = [];
  let table: 'inet' | 'netdev' = 'inet';
  let chain = '';
  for (const line of script.split('\n')) {
    if (line.startsWith('table netdev')) table = 'netdev';
    const m = /^ {2}chain (\S+) \{/.exec(line);
    if (m) out.push((chain = `${table}/${m[1]}`));
    else if (chain && line.includes(' meta mark set meta mark | ')) out.push(`${chain}+masq`);
    if (line === '  }') chain = '';
  }
  return out;
}

export class NftDataPlane implements DataPlane {
  readonly name = 'nft' as const;
  private readonly log: Logger;

  constructor(private readonly opts: NftDataPlaneOptions) {
    this.log = opts.logger.child({ component: 'nft' });
  }

  private nft(args: readonly string[], input?: string, allowFailure = false) {
    return this.opts.run(['nft', ...args], { netns: this.opts.netns, input, allowFailure });
  }

  /** Our tables as the kernel holds them now (absent tables → empty). */
  async readKernel(): Promise<KernelState> {
    const st: KernelState = { chains: new Set(), maps: new Map() };
    for (const t of ['inet', 'netdev'] as const) {
      const res = await this.nft(['-j', 'list', 'table', ...tableName(t).split(' ')], undefined, true);
      if (res.exitCode === 0) parseNftJson(res.stdout, st, t);
    }
    return st;
  }

  async sync(desired: readonly VirtualServer[]): Promise<SyncResult> {
    const dr = this.opts.drContext ? await this.opts.drContext(desired) : undefined;
    const r = renderNft({
      virtualServers: desired,
      nodeName: this.opts.nodeName,
      masqMark: this.opts.masqMark,
      buckets: this.opts.buckets,
      maglev: this.opts.maglev,
      dr,
    });
    const cur = await this.readKernel();
    const ops = elementOps(cur, r.maps, renderedChains(r.script));
    if (ops && ops.length === 0) {
      this.log.debug({ reason: 'inSync' }, 'nft unchanged');
      return { mode: 'noop', operations: 0, skipped: r.skipped };
    }
    if (ops) {
      await this.nft(['-f', '-'], ops.join('\n') + '\n');
      this.log.info({ op: 'elements', statements: ops.length }, 'nft maps updated');
      return { mode: 'incremental', operations: ops.length, skipped: r.skipped };
    }
    await this.nft(['-f', '-'], r.script);
    this.log.info({ op: 'replace', virtualServers: desired.length }, 'nft tables replaced');
    return { mode: 'full', operations: 1, skipped: r.skipped };
  }

  /** Virtual servers read back: VIP, protocol, port and the distinct backends of each NAT map. */
  async list(): Promise<VirtualServer[]> {
    const st = await this.readKernel();
    const out: VirtualServer[] = [];
    for (const [key, m] of st.maps) {
      if (key === 'inet/remote4' || key === 'inet/remote6') continue;
      const mm = /^(inet|netdev)\/(nat|dr)([46])-(tcp|udp|sctp)-(.+)-(\d+)$/.exec(key);
      if (!mm) continue;
      const v6 = mm[3] === '6';
      const rawVip = mm[5]!;
      const vip = v6 ? rawVip.replaceAll('.', ':').replace(/\b0+(?=[0-9a-f])/g, '') : rawVip;
      const counts = new Map<string, number>();
      for (const v of m.elements.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
      out.push({
        vip,
        protocol: mm[4]!.toUpperCase() as VirtualServer['protocol'],
        port: Number(mm[6]),
        family: v6 ? 'IPv6' : 'IPv4',
        scheduler: 'mh',
        schedulerFlags: [],
        persistenceSeconds: 0,
        forwarding: mm[2] === 'dr' ? 'dr' : 'nat',
        realServers: [...counts].sort().map(([v, n]) => {
          const [address, port] = v.split(' . ');
          return { address: address!, port: Number(port ?? 0), weight: n };
        }),
        services: [],
      });
    }
    return out;
  }
}
