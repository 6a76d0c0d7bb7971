/**
 * The IP allocator: pools + every Service's request and current status → each Service's
 * addresses, or a typed reason it has none. Pure and deterministic.
 *
 * Each pass rebuilds the allocation from the Services' statuses (never from a memory of past
 * writes), so a restarted controller never hands out an address twice:
 *   1. keep: Services that hold addresses keep those still valid for them, oldest first
 *      (creationTimestamp, then uid): when two hold one address they may no longer share (a
 *      changed key, ports, namespace), the newer loses it. An invalid Service keeps what it
 *      holds only where that evicts no one (it is "frozen": it never takes or moves anything);
 *   2. assign: every Service still short of addresses, oldest first, gets its requested
 *      addresses or the lowest free address of the first matching pool (or an address
 *      already used by Services with the same sharing key when the ports do not clash).
 */
import type { IpFamily } from '../model/types.js';
import { bigIntToIp, ipToBigInt, isBuggyIp, poolSize, type Pool } from './pools.js';
import { selectorMatches } from '../model/selector.js';
import type { FrozenService, LbRequest, PortKey, RequestResult } from './service-request.js';

export type FailureReason = 'poolExhausted' | 'requestedIPInUse' | 'requestedIPNotInPool' | 'invalidRequest' | 'noMatchingPool';

export interface AllocationFailure {
  reason: FailureReason;
  message: string;
}

export interface ServiceAllocation {
  key: string;
  /** Addresses the Service should carry in status.loadBalancer.ingress, in family order. */
  ips: readonly string[];
  /** Pool of each address (same order as `ips`). */
  pools: readonly string[];
  failure?: AllocationFailure;
  /** Addresses it held but lost to an older holder, each with why (a Warning Event each). */
  lost?: readonly string[];
  /** Whether `ips` differ from what the Service holds now (a status write is due). */
  changed: boolean;
}

export interface PoolUsage {
  IPv4: number;
  IPv6: number;
  /** Free addresses left (a string: IPv6 pools exceed 2^53). */
  free: string;
}

export interface AllocationResult {
  services: readonly ServiceAllocation[];
  /** Per valid pool (by name). */
  usage: ReadonlyMap<string, PoolUsage>;
}

export interface AllocatorInput {
  /** Valid pools in preference order (parsePools). */
  pools: readonly Pool[];
  services: readonly RequestResult[];
  /** Namespace name → labels (for pools' namespaceSelector). */
  namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

interface User {
  sharingKey: string | undefined;
  ports: readonly PortKey[];
  etp: 'Cluster' | 'Local';
  namespace: string;
  /** An invalid Service keeping what it holds: it stays only beside holders that share. */
  frozen: boolean;
}

const SHARING_RULE = 'sharing needs the same bgpvs.io/allow-shared-ip key and externalTrafficPolicy, no common port, and one namespace unless the pool allows sharing across namespaces';

interface Holder {
  ip: string;
  family: IpFamily;
  value: bigint;
  /** Pool the address is counted in (undefined: outside every pool). */
  pool: string | undefined;
  /** Held by something we do not allocate for: reserved, never handed out or shared. */
  foreign: boolean;
  users: Map<string, User>;
}

const slot = (family: IpFamily, value: bigint) => `${family === 'IPv4' ? 4 : 6}:${value}`;

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function byAge(a: { createdAt: string; uid: string; key: string }, b: { createdAt: string; uid: string; key: string }): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  if (a.uid !== b.uid) return a.uid < b.uid ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Allocation state for one pass. */
export class Allocator {
  private readonly used = new Map<string, Holder>();
  private readonly byKey = new Map<string, Holder[]>();
  /** Per pool and range: no free address below this value (only grows within a pass). */
  private readonly hint = new Map<string, bigint>();

  constructor(
    private readonly pools: readonly Pool[],
    private readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>,
  ) {}

  /** The pool (by name, among `pools`) that contains `ip`, honouring avoidBuggyIPs. */
  poolOf(ip: { family: IpFamily; value: bigint }, pools: readonly Pool[] = this.pools): Pool | undefined {
    for (const p of pools) {
      if (p.avoidBuggyIPs && isBuggyIp(ip.family, ip.value)) continue;
      for (const r of p.ranges) if (r.family === ip.family && r.start <= ip.value && ip.value <= r.end) return p;
    }
    return undefined;
  }

  /** Pools a Service may draw from, in preference order; or why there are none. */
  candidatePools(req: LbRequest, forRequestedIp: boolean): Pool[] | AllocationFailure {
    const nsLabels = this.namespaceLabels.get(req.namespace);
    const allows = (p: Pool) =>
      (p.namespaces === undefined || p.namespaces.length === 0 || p.namespaces.includes(req.namespace)) &&
      selectorMatches(p.namespaceSelector, nsLabels) &&
      selectorMatches(p.serviceSelector, req.labels);
    if (req.pool !== undefined) {
      const p = this.pools.find((x) => x.name === req.pool);
      if (!p) return { reason: 'noMatchingPool', message: `pool ${req.pool} (annotation bgpvs.io/address-pool) does not exist or is invalid` };
      if (!allows(p)) return { reason: 'noMatchingPool', message: `pool ${req.pool} does not admit Services of namespace ${req.namespace} with these labels` };
      return [p];
    }
    const out = this.pools.filter((p) => (forRequestedIp || p.autoAssign) && allows(p));
    if (out.length === 0) return { reason: 'noMatchingPool', message: forRequestedIp ? 'no pool admits this Service' : 'no auto-assigning pool admits this Service' };
    return out;
  }

  /** Whether `key` may start using the address held by `h` (free, already its own, or shareable). */
  private compatible(h: Holder | undefined, key: string, user: User): boolean {
    return this.conflict(h, key, user, true) === undefined;
  }

  /**
   * Why `key` may not use the address held by `h`, naming the holder; undefined: it may.
   * `joining`: it does not hold it yet (an invalid Service's address is joined by no one).
   */
  private conflict(h: Holder | undefined, key: string, user: User, joining: boolean): string | undefined {
    if (!h) return undefined;
    if (h.foreign) return `${[...h.users.keys()].filter((k) => k !== key).join(', ') || 'another Service'} holds it outside this allocator`;
    const cross = this.pools.find((p) => p.name === h.pool)?.allowSharingAcrossNamespaces ?? false;
    for (const [k, u] of h.users) {
      if (k === key) continue;
      if (u.namespace !== user.namespace && !cross) return `${k} holds it, in another namespace (pool ${h.pool ?? '?'} does not allow sharing across namespaces)`;
      if (joining && u.frozen) return `${k} holds it and has an invalid request (it shares with no newcomer)`;
      if (user.frozen || u.frozen) {
        // An invalid Service stays only beside Services that still ask to share.
        const valid = user.frozen ? u : user;
        if (!valid.frozen && valid.sharingKey === undefined) return `${k} holds it without bgpvs.io/allow-shared-ip`;
      } else if (user.sharingKey === undefined || u.sharingKey !== user.sharingKey) {
        return `${k} holds it${u.sharingKey === undefined ? ' without bgpvs.io/allow-shared-ip' : user.sharingKey === undefined ? '' : ' with another bgpvs.io/allow-shared-ip key'}`;
      }
      if (u.etp !== user.etp) return `${k} holds it with externalTrafficPolicy ${u.etp}`;
      for (const a of u.ports) for (const b of user.ports) if (a.port === b.port && a.protocol === b.protocol) return `${k} holds it and serves ${a.protocol}/${a.port} there too`;
    }
    return undefined;
  }

  holdersOf(ip: string): string[] {
    const v = ipToBigInt(ip);
    return v ? [...(this.used.get(slot(v.family, v.value))?.users.keys() ?? [])] : [];
  }

  private take(key: string, user: User, family: IpFamily, value: bigint, pool: string | undefined, foreign = false): void {
    const s = slot(family, value);
    let h = this.used.get(s);
    if (!h) {
      h = { ip: bigIntToIp(family, value), family, value, pool, foreign, users: new Map() };
      this.used.set(s, h);
    }
    h.users.set(key, user);
    if (user.sharingKey !== undefined) {
      const list = this.byKey.get(user.sharingKey) ?? [];
      if (!list.includes(h)) list.push(h);
      this.byKey.set(user.sharingKey, list);
    }
  }

  /** Reserve addresses held by something we do not allocate for (never handed out). */
  reserveForeign(key: string, ips: readonly string[]): void {
    for (const ip of ips) {
      const v = ipToBigInt(ip);
      if (!v) continue;
      const h = this.used.get(slot(v.family, v.value));
      if (h) h.foreign = true;
      this.take(key, { sharingKey: undefined, ports: [], etp: 'Cluster', namespace: '', frozen: false }, v.family, v.value, this.poolOf(v)?.name, true);
    }
  }

  /**
   * Phase 1 for an invalid Service: it keeps the current addresses no older holder objects to
   * (reserved here, so nobody is handed them), and loses the others.
   */
  keepFrozen(f: FrozenService): { ips: string[]; pools: string[]; lost: string[] } {
    const out = { ips: [] as string[], pools: [] as string[], lost: [] as string[] };
    const user: User = { sharingKey: undefined, ports: f.ports, etp: f.externalTrafficPolicy, namespace: f.namespace, frozen: true };
    for (const ip of f.current) {
      const v = ipToBigInt(ip);
      if (!v) continue;
      const why = this.conflict(this.used.get(slot(v.family, v.value)), f.key, user, false);
      if (why) {
        out.lost.push(`lost ${ip}: ${why} and is older; ${SHARING_RULE}`);
        continue;
      }
      const pool = this.poolOf(v)?.name;
      this.take(f.key, user, v.family, v.value, pool);
      out.ips.push(ip);
      out.pools.push(pool ?? '');
    }
    return out;
  }

  /** Phase 1: the subset of the Service's current addresses it may keep (reserved here). */
  keep(req: LbRequest): { ips: string[]; pools: string[]; lost: string[] } {
    const kept = { ips: [] as string[], pools: [] as string[], lost: [] as string[] };
    if (req.current.length === 0) return kept;
    const cands = this.candidatePools(req, true);
    if (!Array.isArray(cands)) return kept;
    const user = userOf(req);
    const seen = new Set<IpFamily>();
    let pool: string | undefined;
    for (const ip of req.current) {
      const v = ipToBigInt(ip);
      if (!v || seen.has(v.family) || !req.families.includes(v.family)) continue;
      if (req.requested.length > 0 && !req.requested.includes(ip)) continue;
      const p = this.poolOf(v, cands);
      if (!p || (pool !== undefined && p.name !== pool && req.requested.length === 0)) continue;
      const why = this.conflict(this.used.get(slot(v.family, v.value)), req.key, user, false);
      if (why) {
        kept.lost.push(`lost ${ip}: ${why} and is older; ${SHARING_RULE}`);
        continue;
      }
      this.take(req.key, user, v.family, v.value, p.name);
      seen.add(v.family);
      pool ??= p.name;
      kept.ips.push(ip);
      kept.pools.push(p.name);
    }
    return kept;
  }

  /** Lowest free (or shareable) address of `family` in `pool` for this Service. */
  private findFree(req: LbRequest, user: User, pool: Pool, family: IpFamily): bigint | undefined {
    if (user.sharingKey !== undefined) {
      let best: bigint | undefined;
      for (const h of this.byKey.get(user.sharingKey) ?? []) {
        if (h.pool === pool.name && h.family === family && this.compatible(h, req.key, user) && (best === undefined || h.value < best)) best = h.value;
      }
      if (best !== undefined) return best;
    }
    for (const [i, r] of pool.ranges.entries()) {
      if (r.family !== family) continue;
      const hk = `${pool.name}#${i}`;
      let v = this.hint.get(hk) ?? r.start;
      while (v <= r.end) {
        if (!(pool.avoidBuggyIPs && isBuggyIp(family, v)) && !this.used.has(slot(family, v)) && this.poolOf({ family, value: v }) === pool) {
          this.hint.set(hk, v);
          return v;
        }
        v++;
      }
      this.hint.set(hk, v);
    }
    return undefined;
  }

  /** Phase 2: complete a Service's addresses (after `keep`). */
  assign(req: LbRequest, kept: { ips: string[]; pools: string[]; lost?: string[] }): ServiceAllocation {
    const user = userOf(req);
    const done = (ips: string[], pools: string[], failure?: AllocationFailure): ServiceAllocation => {
      // Family order of the Service.
      const order = ips.map((ip, i) => ({ ip, pool: pools[i] as string, f: req.families.indexOf(ip.includes(':') ? 'IPv6' : 'IPv4') })).sort((a, b) => a.f - b.f);
      const out = order.map((o) => o.ip);
      const lost = kept.lost?.length ? { lost: kept.lost } : {};
      return { key: req.key, ips: out, pools: order.map((o) => o.pool), ...(failure ? { failure } : {}), ...lost, changed: !sameIps(out, req.current) };
    };
    const have = new Set(kept.ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4') as IpFamily));

    if (req.requested.length > 0) {
      const cands = this.candidatePools(req, true);
      if (!Array.isArray(cands)) return done(kept.ips, kept.pools, cands);
      const ips = [...kept.ips];
      const pools = [...kept.pools];
      for (const ip of req.requested) {
        if (ips.includes(ip)) continue;
        const v = ipToBigInt(ip);
        if (!v) return done(kept.ips, kept.pools, { reason: 'invalidRequest', message: `${ip} is not an IP address` });
        const p = this.poolOf(v, cands);
        if (!p) {
          const other = this.poolOf(v);
          const why = other ? `it is in pool ${other.name}, which this Service may not use` : 'no pool contains it';
          return done(kept.ips, kept.pools, { reason: 'requestedIPNotInPool', message: `requested ${ip}: ${why}` });
        }
        const h = this.used.get(slot(v.family, v.value));
        const clash = this.conflict(h, req.key, user, true);
        if (clash) {
          const who = [...(h?.users.keys() ?? [])].filter((k) => k !== req.key).join(', ');
          return done(kept.ips, kept.pools, { reason: 'requestedIPInUse', message: `requested ${ip} is in use by ${who}: ${clash}; ${SHARING_RULE}` });
        }
        this.take(req.key, user, v.family, v.value, p.name);
        ips.push(ip);
        pools.push(p.name);
      }
      return done(ips, pools);
    }

    const missing = req.families.filter((f) => !have.has(f));
    if (missing.length === 0) return done(kept.ips, kept.pools);
    let cands = this.candidatePools(req, false);
    if (!Array.isArray(cands)) return done(kept.ips, kept.pools, cands);
    // Dual-stack addresses come from one pool: the one already holding the kept address.
    if (kept.pools.length > 0) cands = cands.filter((p) => p.name === kept.pools[0]);
    const required = req.families.filter((f, i) => req.requireAll || i === 0);
    const hasFamily = (p: Pool, f: IpFamily) => p.ranges.some((r) => r.family === f);
    for (const p of cands) {
      if (required.some((f) => !have.has(f) && !hasFamily(p, f))) continue;
      const got: { f: IpFamily; v: bigint }[] = [];
      let ok = true;
      for (const f of missing) {
        if (!hasFamily(p, f)) continue;
        const v = this.findFree(req, user, p, f);
        if (v === undefined) {
          if (required.includes(f)) {
            ok = false;
            break;
          }
          continue;
        }
        got.push({ f, v });
        // Take it now so the next family's search sees it.
        this.take(req.key, user, f, v, p.name);
      }
      if (!ok) {
        for (const g of got) this.untake(req.key, g.f, g.v);
        continue;
      }
      return done([...kept.ips, ...got.map((g) => bigIntToIp(g.f, g.v))], [...kept.pools, ...got.map(() => p.name)]);
    }
    const lacking = required.filter((f) => !have.has(f));
    const anyHas = lacking.every((f) => (cands as Pool[]).some((p) => hasFamily(p, f)));
    if (!anyHas) return done(kept.ips, kept.pools, { reason: 'noMatchingPool', message: `no matching pool has ${lacking.join(' and ')} addresses` });
    return done(kept.ips, kept.pools, { reason: 'poolExhausted', message: `no free ${lacking.join('+')} address in pool${cands.length > 1 ? 's' : ''} ${(cands as Pool[]).map((p) => p.name).join(', ')}` });
  }

  private untake(key: string, family: IpFamily, value: bigint): void {
    const s = slot(family, value);
    const h = this.used.get(s);
    if (!h) return;
    h.users.delete(key);
    if (h.users.size === 0) this.used.delete(s);
  }

  usage(): Map<string, PoolUsage> {
    const out = new Map<string, PoolUsage>();
    const counts = new Map<string, { IPv4: number; IPv6: number }>();
    for (const h of this.used.values()) {
      if (h.pool === undefined) continue;
      const c = counts.get(h.pool) ?? { IPv4: 0, IPv6: 0 };
      c[h.family]++;
      counts.set(h.pool, c);
    }
    for (const p of this.pools) {
      const c = counts.get(p.name) ?? { IPv4: 0, IPv6: 0 };
      const size = poolSize(p);
      out.set(p.name, { ...c, free: String(size.IPv4 + size.IPv6 - BigInt(c.IPv4 + c.IPv6)) });
    }
    return out;
  }
}

function userOf(req: LbRequest): User {
  return { sharingKey: req.sharingKey, ports: req.ports, etp: req.externalTrafficPolicy, namespace: req.namespace, frozen: false };
}

/** One allocation pass over every Service. */
export function allocate(input: AllocatorInput): AllocationResult {
  const a = new Allocator(input.pools, input.namespaceLabels);
  const out: ServiceAllocation[] = [];
  const requests: LbRequest[] = [];
  const frozen: { f: FrozenService; message: string }[] = [];
  for (const r of input.services) {
    if (r.kind === 'request') requests.push(r.request);
    else if (r.kind === 'ignore') {
      // Another class's addresses are never handed out; a Service that stopped being a
      // LoadBalancer loses its addresses.
      if (r.reason === 'notOurClass') a.reserveForeign(r.key, r.current);
      else if (r.current.length > 0) out.push({ key: r.key, ips: [], pools: [], changed: true });
    } else if (r.kind === 'invalid') {
      // A bad request skips only itself: it keeps what it holds where that evicts no older
      // holder (its turn comes in age order, below), and says why.
      frozen.push({ f: r.frozen, message: r.message });
    }
  }
  requests.sort(byAge);
  const turns = [...requests.map((req) => ({ age: req, req })), ...frozen.map((fr) => ({ age: fr.f, fr }))].sort((x, y) => byAge(x.age, y.age));
  const kept = new Map<string, { ips: string[]; pools: string[]; lost: string[] }>();
  for (const t of turns) {
    if ('req' in t) {
      kept.set(t.req.key, a.keep(t.req));
      continue;
    }
    const { f, message } = t.fr;
    const k = a.keepFrozen(f);
    out.push({ key: f.key, ips: k.ips, pools: k.pools, failure: { reason: 'invalidRequest', message }, ...(k.lost.length ? { lost: k.lost } : {}), changed: !sameIps(k.ips, f.current) });
  }
  for (const req of requests) out.push(a.assign(req, kept.get(req.key) ?? { ips: [], pools: [] }));
  return { services: out, usage: a.usage() };
}
