/**
 * nftables data plane. Owns only `table inet bgpvs` and `table netdev bgpvs_dr`.
 *
 * Full pass (the first one, after a refused update, when the tables' structure changes, when
 * a bucket map would outgrow its declared size, and every `fullResyncMs`): replaces both
 * tables in one `nft -f` transaction with the whole render. Conntrack keeps the NAT of
 * established connections and only a connection's first packet consults the tables, so a
 * replacement, as on an agent restart, breaks none.
 *
 * Incremental pass: the adapter remembers, per virtual server, the fragment nft last accepted
 * (and how many fragments share each set element); only the elements of changed virtual
 * servers are deleted and added, in one `nft -f` transaction, so a pass costs the size of the
 * change, not of the table. nft's exit status is the verification: it commits the whole
 * transaction or nothing, and a refused one (say, a table someone removed) falls back to a
 * full pass at once. Nothing is read back per pass: nft 1.0.6 fetches every element of a set
 * for any read of it (`get element` of one key costs as much as listing the whole table).
 */
import type { Logger } from 'pino';
import type { Runner } from '../../exec/run.js';
import type { VirtualServer } from '../../model/types.js';
import type { DataPlane, DataPlaneContext, SyncResult } from '../types.js';
import {
  DR_TABLE,
  NAT_TABLE,
  assemble,
  clusterDigest,
  declarations,
  drDigest,
  elementText,
  isFragment,
  renderFragment,
  skeleton,
  type ClusterDsrContext,
  type DrContext,
  type Element,
  type Fragment,
  type MaglevFn,
  type RenderContext,
  type Skipped,
  type Table,
} from './render.js';

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
  /**
   * Resolves the Cluster DSR context (uplink, on-link nodes' addresses) for this pass; none
   * (or undefined) = masquerade every remote real server, kube-proxy style.
   */
  clusterContext?: (desired: readonly VirtualServer[], ctx?: DataPlaneContext) => Promise<ClusterDsrContext | undefined>;
  /** Replace the tables whole at least this often (default 10 minutes). */
  fullResyncMs?: number;
  /** Clock for the resync timer (tests). */
  now?: () => number;
  /**
   * Smallest declared size of a bucket map (default 65,536). The full pass declares room for
   * twice the elements; an element update that would exceed it replaces the tables instead.
   */
  minMapSize?: number;
}

const tableName = (t: Table): string => (t === 'inet' ? `inet ${NAT_TABLE}` : `netdev ${DR_TABLE}`);

/** What nft last accepted from us. */
interface Applied {
  skeleton: string;
  fragments: Map<string, Fragment>;
  /** `table set element` → how many fragments hold it. */
  refs: Map<string, number>;
  /** Bucket map (`table name`) → elements it holds, and the size it was declared with. */
  counts: Map<string, number>;
  sizes: Map<string, number>;
}

const filled = (f: Fragment): number => f.buckets.reduce((n, v) => (v === '' ? n : n + 1), 0);

/** Declared size of a bucket map holding `n` elements: room to double, at least `min`. */
export const bucketMapSize = (n: number, min = 65536): number => Math.max(min, 2 ** Math.ceil(Math.log2(Math.max(1, n) * 2)));

/** Element statements, grouped per set or map. */
class OpBuilder {
  private readonly del = new Map<string, string[]>();
  private readonly add = new Map<string, string[]>();
  private push(m: Map<string, string[]>, target: string, text: string): void {
    const l = m.get(target);
    if (l) l.push(text);
    else m.set(target, [text]);
  }
  delete(table: Table, set: string, key: string): void {
    this.push(this.del, `${tableName(table)} ${set}`, key);
  }
  insert(table: Table, set: string, el: Element): void {
    this.push(this.add, `${tableName(table)} ${set}`, elementText(el));
  }
  /** Deletes first: an element whose value changes is deleted, then added. */
  statements(): string[] {
    const out: string[] = [];
    for (const [t, els] of this.del) out.push(`delete element ${t} { ${els.join(', ')} }`);
    for (const [t, els] of this.add) out.push(`add element ${t} { ${els.join(', ')} }`);
    return out;
  }
}

const refKey = (f: Fragment, set: string, el: string): string => `${f.table} ${set} ${el}`;

/**
 * Pure: element statements turning the applied fragments into the desired ones. `refs`
 * (shared set elements) and `counts` (elements per bucket map) are updated in place.
 */
export function fragmentOps(
  applied: ReadonlyMap<string, Fragment>,
  desired: ReadonlyMap<string, Fragment>,
  refs: Map<string, number>,
  counts?: Map<string, number>,
): string[] {
  const changed: [Fragment | undefined, Fragment | undefined][] = [];
  let kept = 0;
  for (const [id, want] of desired) {
    const have = applied.get(id);
    if (have) kept++;
    if (have !== want) changed.push([have, want]);
  }
  // some applied fragment is no longer desired only when not all of them were matched
  if (kept < applied.size) for (const [id, have] of applied) if (!desired.has(id)) changed.push([have, undefined]);
  if (changed.length === 0) return [];
  const ops = new OpBuilder();

  // set elements: drop the old fragments' references, take the new ones; only elements whose
  // count goes to zero are deleted and only those that come from zero are added
  const dropped = new Map<string, [Table, string, string]>();
  for (const [have] of changed) {
    if (!have) continue;
    for (const [set, el] of have.sets) {
      const k = refKey(have, set, el);
      const n = (refs.get(k) ?? 0) - 1;
      if (n > 0) refs.set(k, n);
      else {
        refs.delete(k);
        dropped.set(k, [have.table, set, el]);
      }
    }
  }
  for (const [, want] of changed) {
    if (!want) continue;
    for (const [set, el] of want.sets) {
      const k = refKey(want, set, el);
      const n = refs.get(k) ?? 0;
      refs.set(k, n + 1);
      if (n === 0 && !dropped.delete(k)) ops.insert(want.table, set, [el, '']);
    }
  }
  for (const [table, set, el] of dropped.values()) ops.delete(table, set, el);

  // bucket elements: keys are the virtual server's own, so old and new compare bucket by bucket
  for (const [have, want] of changed) {
    if (counts) {
      if (have) counts.set(`${have.table} ${have.map}`, (counts.get(`${have.table} ${have.map}`) ?? 0) - filled(have));
      if (want) counts.set(`${want.table} ${want.map}`, (counts.get(`${want.table} ${want.map}`) ?? 0) + filled(want));
    }
    const n = Math.max(have?.buckets.length ?? 0, want?.buckets.length ?? 0);
    for (let b = 0; b < n; b++) {
      const hv = have?.buckets[b] ?? '';
      const wv = want?.buckets[b] ?? '';
      if (hv === wv) continue;
      if (hv !== '') ops.delete(have!.table, have!.map, `${have!.key} . ${b}`);
      if (wv !== '') ops.insert(want!.table, want!.map, [`${want!.key} . ${b}`, wv]);
    }
  }
  return ops.statements();
}

/** Text of a JSON element key or value, in the form the renderer writes. */
export function jsonValueText(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.concat)) return o.concat.map(jsonValueText).join(' . ');
    if ('elem' in o) return jsonValueText((o.elem as { val: unknown }).val);
  }
  return JSON.stringify(v);
}

/** Kernel view of our tables: `table name` → elements (a set's values are ''). */
export type KernelMaps = Map<string, Map<string, string>>;

/** Parse `nft -j list table` output (pure). */
export function parseNftJson(text: string, into: KernelMaps, table: Table): void {
  const doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  for (const item of doc.nftables ?? []) {
    const m = (item.map ?? item.set) as { name: string; elem?: unknown[] } | undefined;
    if (!m) continue;
    const elements = new Map<string, string>();
    for (const e of m.elem ?? []) {
      if (item.set) elements.set(jsonValueText(e), '');
      else {
        const [k, v] = e as [unknown, unknown];
        elements.set(jsonValueText(k), jsonValueText(v));
      }
    }
    into.set(`${table} ${m.name}`, elements);
  }
}

export class NftDataPlane implements DataPlane {
  readonly name = 'nft' as const;
  private readonly log: Logger;
  private applied: Applied | undefined;
  private lastFull = 0;
  /** Fragments by the virtual-server object they were rendered from (and the DR or Cluster DSR context they depend on). */
  private readonly cache = new WeakMap<VirtualServer, { dr: string; result: Fragment | Skipped }>();

  constructor(private readonly opts: NftDataPlaneOptions) {
    this.log = opts.logger.child({ component: 'nft' });
  }

  private nft(args: readonly string[], input?: string, allowFailure = false) {
    return this.opts.run(['nft', ...args], { netns: this.opts.netns, input, allowFailure });
  }

  /** The next pass replaces the tables whole. */
  resync(): void {
    this.applied = undefined;
  }

  private context(dr: DrContext | undefined, cluster: ClusterDsrContext | undefined): RenderContext {
    return { nodeName: this.opts.nodeName, masqMark: this.opts.masqMark, buckets: this.opts.buckets, maglev: this.opts.maglev, dr, ...(cluster ? { cluster } : {}) };
  }

  /** Fragments of the desired state (cached per virtual-server object), and what is skipped. */
  private fragments(desired: readonly VirtualServer[], ctx: RenderContext): { byId: Map<string, Fragment>; skipped: Skipped[] } {
    const dr = drDigest(ctx.dr);
    const cluster = clusterDigest(ctx.cluster);
    const byId = new Map<string, Fragment>();
    const skipped: Skipped[] = [];
    for (const vs of desired) {
      const depends = vs.forwarding === 'dr' ? dr : cluster;
      let c = this.cache.get(vs);
      if (!c || c.dr !== depends) {
        c = { dr: depends, result: renderFragment(vs, ctx) };
        this.cache.set(vs, c);
        if (isFragment(c.result) && c.result.warning) this.log.warn({ vip: vs.vip, port: vs.port, protocol: vs.protocol, reason: c.result.warning }, 'virtual server programmed, but not every backend serves');
      }
      const r = c.result;
      if (!isFragment(r)) skipped.push(r);
      else if (byId.has(r.id)) skipped.push({ vip: vs.vip, port: vs.port, protocol: vs.protocol, reason: 'duplicate' });
      else {
        byId.set(r.id, r);
        if (r.forward) byId.set(r.forward.id, r.forward);
      }
    }
    return { byId, skipped };
  }

  async sync(desired: readonly VirtualServer[], pass?: DataPlaneContext): Promise<SyncResult> {
    const dr = this.opts.drContext ? await this.opts.drContext(desired) : undefined;
    const cluster = this.opts.clusterContext ? await this.opts.clusterContext(desired, pass) : undefined;
    const ctx = this.context(dr, cluster);
    const { byId, skipped } = this.fragments(desired, ctx);
    const skel = skeleton(ctx);
    const now = this.opts.now ?? Date.now;
    const due = now() - this.lastFull >= (this.opts.fullResyncMs ?? 600_000);
    const applied = this.applied;
    if (!applied || applied.skeleton !== skel || due) {
      const reason = !applied ? 'noState' : applied.skeleton !== skel ? 'structure' : 'timer';
      return this.full(byId, ctx, skel, skipped, reason);
    }
    const refs = new Map(applied.refs);
    const counts = new Map(applied.counts);
    const ops = fragmentOps(applied.fragments, byId, refs, counts);
    if ([...counts].some(([m, n]) => n > (applied.sizes.get(m) ?? 0))) return this.full(byId, ctx, skel, skipped, 'size');
    if (ops.length === 0) {
      this.log.debug({ reason: 'inSync' }, 'nft unchanged');
      return { mode: 'noop', operations: 0, skipped };
    }
    const res = await this.nft(['-f', '-'], ops.join('\n') + '\n', true);
    if (res.exitCode !== 0) {
      this.log.warn({ stderr: res.stderr.trim(), statements: ops.length }, 'nft element update refused; replacing the tables');
      this.applied = undefined;
      return this.full(byId, ctx, skel, skipped, 'error');
    }
    this.applied = { ...applied, fragments: byId, refs, counts };
    this.log.info({ op: 'elements', statements: ops.length }, 'nft maps updated');
    return { mode: 'incremental', operations: ops.length, skipped };
  }

  /**
   * Replace both tables in one transaction. Nothing is read first: the replacement does not
   * depend on what is there, and nft 1.0.6 dumps every element of every set for any listing,
   * even `nft list tables` (8 s of CPU at 10,000 services × 31 buckets).
   */
  private async full(byId: Map<string, Fragment>, ctx: RenderContext, skel: string, skipped: Skipped[], reason: string): Promise<SyncResult> {
    this.applied = undefined;
    const refs = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const f of byId.values()) {
      for (const [set, el] of f.sets) {
        const k = refKey(f, set, el);
        refs.set(k, (refs.get(k) ?? 0) + 1);
      }
      const m = `${f.table} ${f.map}`;
      counts.set(m, (counts.get(m) ?? 0) + filled(f));
    }
    const sizes = new Map(declarations(!!ctx.dr, !!ctx.cluster).filter((d) => d.kind === 'map').map((d) => [`${d.table} ${d.name}`, bucketMapSize(counts.get(`${d.table} ${d.name}`) ?? 0, this.opts.minMapSize)]));
    await this.nft(['-f', '-'], assemble([...byId.values()], ctx, sizes));
    this.applied = { skeleton: skel, fragments: byId, refs, counts, sizes };
    this.lastFull = (this.opts.now ?? Date.now)();
    this.log.info({ op: 'replace', reason, virtualServers: byId.size }, 'nft tables replaced');
    return { mode: 'full', operations: 1, skipped };
  }

  /** Our sets and maps with their elements, as the kernel holds them (reads everything: slow at scale). */
  async readKernel(): Promise<KernelMaps> {
    const st: KernelMaps = new Map();
    for (const t of ['inet', 'netdev'] as const) {
      const res = await this.nft(['-j', 'list', 'table', ...tableName(t).split(' ')], undefined, true);
      if (res.exitCode === 0) parseNftJson(res.stdout, st, t);
    }
    return st;
  }

  /**
   * Virtual servers read back: VIP, protocol, port, forwarding and the distinct backends of
   * each, weighted by their buckets; ClientIP affinity shows as `persistenceSeconds: 1` (the
   * table holds no timeout). Reads every element: seconds at 10,000 services.
   */
  async list(): Promise<VirtualServer[]> {
    const st = await this.readKernel();
    const out = new Map<string, VirtualServer>();
    for (const [name, elements] of st) {
      const mm = /^(inet|netdev) (dr)?be([46])$/.exec(name);
      if (!mm) continue;
      const aff = st.get(`${mm[1]} ${mm[2] ?? ''}aff${mm[3]}`) ?? new Map<string, string>();
      const counts = new Map<string, Map<string, number>>();
      for (const [k, v] of elements) {
        const parts = k.split(' . ');
        const vsKey = parts.slice(0, 3).join(' . ');
        const c = counts.get(vsKey) ?? new Map<string, number>();
        c.set(v, (c.get(v) ?? 0) + 1);
        counts.set(vsKey, c);
      }
      for (const [vsKey, c] of counts) {
        const [vip, p, port] = vsKey.split(' . ');
        out.set(`${name} ${vsKey}`, {
          vip: vip!,
          protocol: p!.toUpperCase() as VirtualServer['protocol'],
          port: Number(port),
          family: mm[3] === '6' ? 'IPv6' : 'IPv4',
          scheduler: 'mh',
          schedulerFlags: [],
          persistenceSeconds: aff.has(vsKey) ? 1 : 0,
          forwarding: mm[2] ? 'dr' : 'nat',
          realServers: [...c].sort().map(([v, n]) => {
            const [address, rport] = v.split(' . ');
            return { address: address!, port: Number(rport ?? 0), weight: n };
          }),
          services: [],
        });
      }
    }
    // sorted: the kernel lists a hash map's elements in its own order
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }
}
