/**
 * Pure diff: desired virtual servers vs the kernel's table → ipvsadm operations.
 * Only services whose VIP is in `managedVips` are ever touched. Real servers that leave the
 * desired set drain: weight 0 first, removed once their connections reach zero or the grace
 * time has passed. The clock (`nowMs`) and the drain start times are inputs.
 */
import type { ForwardingMethod, RealServer, VirtualServer, VirtualServerKey } from '../../model/types.js';

/** Which VIPs bgpvs owns: a Set works, so does a predicate over pool CIDRs. */
export interface VipOwnership {
  has(vip: string): boolean;
}

/**
 * A desired real server may carry its own forwarding method (IPVS keeps one per real server):
 * e.g. a DR service reaches pods on other nodes, which are not on this node's L2, by tunnel.
 * Without it, the virtual server's method applies.
 */
export interface DesiredRealServer extends RealServer {
  forwarding?: ForwardingMethod;
}
import { realKeyString, serviceKeyString, type ActualVirtualServer, type ConnCounts, type IpvsTableState } from './parse.js';

export interface ServiceSpec extends VirtualServerKey {
  scheduler: VirtualServer['scheduler'];
  schedulerFlags: VirtualServer['schedulerFlags'];
  persistenceSeconds: number;
}

export interface RealSpec {
  address: string;
  port: number;
  weight: number;
  forwarding: ForwardingMethod;
}

export type IpvsOp =
  | { kind: 'add-service'; service: ServiceSpec }
  | { kind: 'edit-service'; service: ServiceSpec }
  | { kind: 'delete-service'; service: VirtualServerKey }
  | { kind: 'add-real'; service: VirtualServerKey; real: RealSpec }
  | { kind: 'edit-real'; service: VirtualServerKey; real: RealSpec; reason?: 'drain' }
  | { kind: 'delete-real'; service: VirtualServerKey; real: { address: string; port: number }; reason?: 'drained' | 'grace-expired' };

export interface IpvsDiffInput {
  desired: readonly VirtualServer[];
  actual: IpvsTableState;
  /** VIPs bgpvs owns; services on any other address are never touched. */
  managedVips: VipOwnership;
  /** Connection counts per `realKeyString`; a missing entry counts as zero connections. */
  conns?: ReadonlyMap<string, ConnCounts>;
  nowMs: number;
  /** When each draining real server (by `realKeyString`) started draining. */
  drainingSince?: ReadonlyMap<string, number>;
  graceMs: number;
}

export interface IpvsDiffResult {
  ops: IpvsOp[];
  /** Drain start times to pass back next time (only real servers still draining). */
  drainingSince: Map<string, number>;
  /** Real servers at weight 0 waiting for their connections to end. */
  draining: number;
}

function keyOf(v: VirtualServerKey): VirtualServerKey {
  return { vip: v.vip, protocol: v.protocol, port: v.port };
}

function specOf(v: VirtualServer | ActualVirtualServer): ServiceSpec {
  return { ...keyOf(v), scheduler: v.scheduler, schedulerFlags: [...v.schedulerFlags], persistenceSeconds: v.persistenceSeconds };
}

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

function realOf(rs: RealServer, forwarding: ForwardingMethod): RealSpec {
  return { address: rs.address, port: rs.port, weight: rs.weight, forwarding };
}

/** The real server's own forwarding method, else its virtual server's. */
function fwdOf(rs: DesiredRealServer, v: VirtualServer): ForwardingMethod {
  return rs.forwarding ?? v.forwarding;
}

/**
 * The desired virtual server as the kernel will hold it: with DR and tunnel forwarding IPVS
 * stores the service's port for every real server (it cannot rewrite ports without NAT), so
 * a real server's own port is kept only with NAT. Duplicates that this creates merge (first wins).
 */
function asKernelHolds(v: VirtualServer): VirtualServer {
  if (v.forwarding === 'nat') return v;
  return { ...v, realServers: v.realServers.map((rs) => (rs.port === v.port ? rs : { ...rs, port: v.port })) };
}

const rank: Record<IpvsOp['kind'], number> = {
  'delete-real': 0,
  'delete-service': 1,
  'edit-service': 2,
  'add-service': 3,
  'edit-real': 4,
  'add-real': 5,
};

/** Duplicate desired services or real servers: the first wins; the model is expected not to produce them. */
export function diffIpvs(input: IpvsDiffInput): IpvsDiffResult {
  const { managedVips, nowMs, graceMs } = input;
  const conns = input.conns ?? new Map<string, ConnCounts>();
  const prevSince = input.drainingSince ?? new Map<string, number>();
  const ops: IpvsOp[] = [];
  const drainingSince = new Map<string, number>();
  let draining = 0;

  const desired = new Map<string, VirtualServer>();
  for (const v of input.desired) {
    if (!managedVips.has(v.vip)) continue;
    const k = serviceKeyString(v);
    if (!desired.has(k)) desired.set(k, asKernelHolds(v));
  }
  const actual = new Map<string, ActualVirtualServer>();
  for (const v of input.actual.services) if (managedVips.has(v.vip)) actual.set(serviceKeyString(v), v);
  // A managed key held by a service we cannot express (unknown scheduler/options): edit it into shape.
  const foreignKeys = new Set<string>();
  for (const f of input.actual.foreign) if (f.key && managedVips.has(f.key.vip)) foreignKeys.add(serviceKeyString(f.key));

  for (const [k, want] of desired) {
    const have = actual.get(k);
    const key = keyOf(want);
    if (!have) {
      ops.push({ kind: foreignKeys.has(k) ? 'edit-service' : 'add-service', service: specOf(want) });
      // A foreign-shaped service may hold real servers we could not read; `-a` of one that
      // exists fails the batch, so the next pass (after the edit made it readable) adds them.
      if (foreignKeys.has(k)) continue;
      const seen = new Set<string>();
      for (const rs of want.realServers) {
        const rk = `${rs.address}/${rs.port}`;
        if (seen.has(rk)) continue;
        seen.add(rk);
        ops.push({ kind: 'add-real', service: key, real: realOf(rs, fwdOf(rs, want)) });
      }
      continue;
    }
    if (have.scheduler !== want.scheduler || have.persistenceSeconds !== want.persistenceSeconds || !sameFlags(have.schedulerFlags, want.schedulerFlags)) {
      ops.push({ kind: 'edit-service', service: specOf(want) });
    }
    const haveReal = new Map(have.realServers.map((r) => [`${r.address}/${r.port}`, r]));
    const wantReal = new Set<string>();
    for (const rs of want.realServers) {
      const rk = `${rs.address}/${rs.port}`;
      if (wantReal.has(rk)) continue;
      wantReal.add(rk);
      const cur = haveReal.get(rk);
      const fwd = fwdOf(rs, want);
      if (!cur) ops.push({ kind: 'add-real', service: key, real: realOf(rs, fwd) });
      else if (cur.weight !== rs.weight || cur.forwarding !== fwd) ops.push({ kind: 'edit-real', service: key, real: realOf(rs, fwd) });
    }
    for (const cur of have.realServers) {
      const rk = `${cur.address}/${cur.port}`;
      if (wantReal.has(rk)) continue;
      const full = realKeyString(key, cur);
      const c = conns.get(full);
      const total = c ? c.active + c.inactive : 0;
      const since = prevSince.get(full) ?? nowMs;
      if (total === 0) {
        ops.push({ kind: 'delete-real', service: key, real: { address: cur.address, port: cur.port }, reason: 'drained' });
      } else if (nowMs - since >= graceMs) {
        ops.push({ kind: 'delete-real', service: key, real: { address: cur.address, port: cur.port }, reason: 'grace-expired' });
      } else {
        if (cur.weight !== 0) ops.push({ kind: 'edit-real', service: key, real: { ...realOf(cur, cur.forwarding), weight: 0 }, reason: 'drain' });
        drainingSince.set(full, since);
        draining++;
      }
    }
  }
  for (const [k, have] of actual) {
    if (!desired.has(k)) ops.push({ kind: 'delete-service', service: keyOf(have) });
  }
  for (const f of input.actual.foreign) {
    if (f.key && managedVips.has(f.key.vip) && !desired.has(serviceKeyString(f.key))) ops.push({ kind: 'delete-service', service: keyOf(f.key) });
  }
  // Stable order: removals first (frees nothing needed later, but keeps batches readable), then
  // service changes before the real servers that need them; ties keep diff order.
  const ordered = ops.map((op, i) => ({ op, i })).sort((a, b) => rank[a.op.kind] - rank[b.op.kind] || a.i - b.i);
  return { ops: ordered.map((x) => x.op), drainingSince, draining };
}
