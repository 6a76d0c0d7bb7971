/**
 * Desired vs actual node state → the fewest operations that make actual equal desired, and a
 * pure `apply` that performs them on plain data (what the adapters do to IPVS and GoBGP).
 *
 * Only what the kernel and BGP carry is compared: bookkeeping (`services`, a real server's
 * `nodeName` and `terminating`) never causes an operation, so an actual state read back from
 * `ipvsadm`/`ListPath` without it converges. `localReadyEndpoints` matters only on a weighted
 * (link-bandwidth) prefix.
 */
import type { Advertisement, NodeDesiredState, RealServer, VirtualServer, VirtualServerKey } from '../model/types.js';
import { cmp, compareRealServers, compareVirtualServers, vsKey } from './order.js';

export type DataplaneState = Pick<NodeDesiredState, 'virtualServers' | 'advertisements'>;
export type VirtualServerAttrs = Omit<VirtualServer, 'realServers'>;
export type RealServerKey = Pick<RealServer, 'address' | 'port'>;

export type ModelOp =
  | { kind: 'addVirtualServer'; vs: VirtualServerAttrs }
  | { kind: 'updateVirtualServer'; vs: VirtualServerAttrs }
  /** Removes its real servers too, as IPVS does. */
  | { kind: 'deleteVirtualServer'; vs: VirtualServerKey }
  | { kind: 'addRealServer'; vs: VirtualServerKey; rs: RealServer }
  | { kind: 'updateRealServer'; vs: VirtualServerKey; rs: RealServer }
  | { kind: 'deleteRealServer'; vs: VirtualServerKey; rs: RealServerKey }
  | { kind: 'announce'; ad: Advertisement }
  | { kind: 'updateAdvertisement'; ad: Advertisement }
  | { kind: 'withdraw'; prefix: string };

const keyOf = (v: VirtualServerKey): VirtualServerKey => ({ vip: v.vip, protocol: v.protocol, port: v.port });
const rsKey = (r: RealServerKey) => `${r.address}|${r.port}`;
const attrsOf = ({ realServers: _rs, ...attrs }: VirtualServer): VirtualServerAttrs => attrs;
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export function sameVirtualServerAttrs(a: VirtualServerAttrs, b: VirtualServerAttrs): boolean {
  return (
    a.family === b.family &&
    a.scheduler === b.scheduler &&
    sameList([...a.schedulerFlags].sort(cmp), [...b.schedulerFlags].sort(cmp)) &&
    a.persistenceSeconds === b.persistenceSeconds &&
    a.forwarding === b.forwarding
  );
}

export function sameAdvertisement(a: Advertisement, b: Advertisement): boolean {
  return (
    a.family === b.family &&
    sameList([...a.communities].sort(cmp), [...b.communities].sort(cmp)) &&
    sameList([...a.largeCommunities].sort(cmp), [...b.largeCommunities].sort(cmp)) &&
    a.localPref === b.localPref &&
    a.weighted === b.weighted &&
    (!a.weighted || a.localReadyEndpoints === b.localReadyEndpoints)
  );
}

function diffRealServers(key: VirtualServerKey, want: readonly RealServer[], have: readonly RealServer[], out: ModelOp[]): void {
  const haveBy = new Map(have.map((r) => [rsKey(r), r]));
  const wantKeys = new Set<string>();
  for (const r of want) {
    const k = rsKey(r);
    wantKeys.add(k);
    const h = haveBy.get(k);
    if (!h) out.push({ kind: 'addRealServer', vs: key, rs: r });
    else if (h.weight !== r.weight) out.push({ kind: 'updateRealServer', vs: key, rs: r });
  }
  for (const r of have) if (!wantKeys.has(rsKey(r))) out.push({ kind: 'deleteRealServer', vs: key, rs: { address: r.address, port: r.port } });
}

/** Virtual servers first (add/update, then their real servers), then deletions, then prefixes. */
export function diff(desired: DataplaneState, actual: DataplaneState): ModelOp[] {
  const ops: ModelOp[] = [];
  const haveVs = new Map(actual.virtualServers.map((v) => [vsKey(v), v]));
  const wantVs = new Set<string>();
  for (const v of desired.virtualServers) {
    const k = vsKey(v);
    wantVs.add(k);
    const h = haveVs.get(k);
    if (!h) {
      ops.push({ kind: 'addVirtualServer', vs: attrsOf(v) });
      for (const r of v.realServers) ops.push({ kind: 'addRealServer', vs: keyOf(v), rs: r });
      continue;
    }
    if (!sameVirtualServerAttrs(v, h)) ops.push({ kind: 'updateVirtualServer', vs: attrsOf(v) });
    diffRealServers(keyOf(v), v.realServers, h.realServers, ops);
  }
  for (const v of actual.virtualServers) if (!wantVs.has(vsKey(v))) ops.push({ kind: 'deleteVirtualServer', vs: keyOf(v) });

  const haveAd = new Map(actual.advertisements.map((a) => [a.prefix, a]));
  const wantAd = new Set<string>();
  for (const a of desired.advertisements) {
    wantAd.add(a.prefix);
    const h = haveAd.get(a.prefix);
    if (!h) ops.push({ kind: 'announce', ad: a });
    else if (!sameAdvertisement(a, h)) ops.push({ kind: 'updateAdvertisement', ad: a });
  }
  for (const a of actual.advertisements) if (!wantAd.has(a.prefix)) ops.push({ kind: 'withdraw', prefix: a.prefix });
  return ops;
}

/** Performs `ops` on `state` as the adapters would on the node; returns a new, sorted state. */
export function apply(ops: readonly ModelOp[], state: DataplaneState): DataplaneState {
  const vss = new Map<string, { attrs: VirtualServerAttrs; rs: Map<string, RealServer> }>();
  for (const v of state.virtualServers) vss.set(vsKey(v), { attrs: attrsOf(v), rs: new Map(v.realServers.map((r) => [rsKey(r), r])) });
  const ads = new Map(state.advertisements.map((a) => [a.prefix, a]));
  const vsFor = (k: VirtualServerKey, op: string) => {
    const v = vss.get(vsKey(k));
    if (!v) throw new RangeError(`${op}: no virtual server ${vsKey(k)}`);
    return v;
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'addVirtualServer':
        if (vss.has(vsKey(op.vs))) throw new RangeError(`addVirtualServer: ${vsKey(op.vs)} exists`);
        vss.set(vsKey(op.vs), { attrs: op.vs, rs: new Map() });
        break;
      case 'updateVirtualServer':
        vsFor(op.vs, op.kind).attrs = op.vs;
        break;
      case 'deleteVirtualServer':
        vsFor(op.vs, op.kind);
        vss.delete(vsKey(op.vs));
        break;
      case 'addRealServer': {
        const v = vsFor(op.vs, op.kind);
        if (v.rs.has(rsKey(op.rs))) throw new RangeError(`addRealServer: ${rsKey(op.rs)} exists in ${vsKey(op.vs)}`);
        v.rs.set(rsKey(op.rs), op.rs);
        break;
      }
      case 'updateRealServer': {
        const v = vsFor(op.vs, op.kind);
        if (!v.rs.has(rsKey(op.rs))) throw new RangeError(`updateRealServer: no ${rsKey(op.rs)} in ${vsKey(op.vs)}`);
        v.rs.set(rsKey(op.rs), op.rs);
        break;
      }
      case 'deleteRealServer':
        if (!vsFor(op.vs, op.kind).rs.delete(rsKey(op.rs))) throw new RangeError(`deleteRealServer: no ${rsKey(op.rs)} in ${vsKey(op.vs)}`);
        break;
      case 'announce':
        if (ads.has(op.ad.prefix)) throw new RangeError(`announce: ${op.ad.prefix} already announced`);
        ads.set(op.ad.prefix, op.ad);
        break;
      case 'updateAdvertisement':
        if (!ads.has(op.ad.prefix)) throw new RangeError(`updateAdvertisement: ${op.ad.prefix} not announced`);
        ads.set(op.ad.prefix, op.ad);
        break;
      case 'withdraw':
        if (!ads.delete(op.prefix)) throw new RangeError(`withdraw: ${op.prefix} not announced`);
        break;
    }
  }
  const virtualServers = [...vss.values()]
    .map(({ attrs, rs }) => ({ ...attrs, realServers: [...rs.values()].sort(compareRealServers) }))
    .sort(compareVirtualServers);
  const advertisements = [...ads.values()].sort((a, b) => cmp(a.prefix, b.prefix));
  return { virtualServers, advertisements };
}
