/**
 * A ServiceView → what one node wants for that Service alone: its virtual servers, its
 * claims on prefixes, and a decision per IP. The builder merges fragments of all Services.
 */
import type { BgpCommunities, IpFamily, RealServer, ServiceDecision, SkipReason, VirtualServer } from '../model/types.js';
import type { CompiledPool } from './config.js';
import { cidrContains, hostPrefix } from '../model/ip.js';
import { cmp, compareRealServers } from './order.js';
import type { ServiceSkip, ServiceView, ViewBackend, ViewIp } from './service-view.js';

export interface NodeContext {
  nodeName: string;
  eligible: boolean;
  pools: readonly CompiledPool[];
}

/** One Service's wish that this node announce a prefix. */
export interface PrefixClaim extends BgpCommunities {
  prefix: string;
  family: IpFamily;
  service: string;
  /** Local ready endpoint addresses behind it for this Service. */
  localReady: readonly string[];
  /** Pool asks for weighted ECMP and this Service's policy for the IP is Local. */
  weighted: boolean;
}

export interface ServiceFragment {
  service: string;
  virtualServers: readonly VirtualServer[];
  claims: readonly PrefixClaim[];
  decisions: readonly ServiceDecision[];
}

const NO_ATTRS: BgpCommunities = { communities: [], largeCommunities: [] };

/** BGP attributes of the most specific pool containing ip. */
export function poolFor(ip: ViewIp, pools: readonly CompiledPool[]): { attrs: BgpCommunities; weightedEcmp: boolean } {
  let best: CompiledPool | undefined;
  let bestLen = -1;
  for (const p of pools) {
    for (const c of p.cidrs) {
      if (c.range[1] > bestLen && cidrContains(c, ip)) {
        best = p;
        bestLen = c.range[1];
      }
    }
  }
  if (!best) return { attrs: NO_ATTRS, weightedEcmp: false };
  const a = best.attrs;
  return {
    attrs: {
      communities: [...a.communities].sort(cmp),
      largeCommunities: [...a.largeCommunities].sort(cmp),
      ...(a.localPref !== undefined ? { localPref: a.localPref } : {}),
    },
    weightedEcmp: a.weightedEcmp,
  };
}

const rank = (b: ViewBackend) => (b.ready ? 2 : b.serving && b.terminating ? 1 : 0);

/**
 * Real servers as kube-proxy picks endpoints: the ready ones, plus serving-terminating ones at
 * weight 0 so their connections drain; when none is ready, the serving-terminating ones carry
 * traffic. Duplicates (an endpoint in two slices) keep their best state.
 */
export function selectRealServers(backends: readonly ViewBackend[]): RealServer[] {
  // sorted by (address, port), best state first, so duplicates are adjacent and the first wins
  const usable = backends.filter((b) => rank(b) > 0).sort((x, y) => compareRealServers(x, y) || rank(y) - rank(x));
  const anyReady = usable.some((b) => b.ready);
  const out: RealServer[] = [];
  let prev: ViewBackend | undefined;
  for (const b of usable) {
    if (prev && prev.address === b.address && prev.port === b.port) continue;
    prev = b;
    const node = { ...(b.nodeName !== undefined ? { nodeName: b.nodeName } : {}), ...(b.pod !== undefined ? { pod: b.pod } : {}) };
    if (b.ready) out.push({ address: b.address, port: b.port, weight: 1, ...node });
    else out.push({ address: b.address, port: b.port, weight: anyReady ? 0 : 1, ...node, terminating: true });
  }
  return out;
}

export function skipFragment(skip: ServiceSkip): ServiceFragment {
  const notes = skip.notes.length ? { notes: skip.notes } : {};
  const decisions: ServiceDecision[] =
    skip.ips.length === 0
      ? [{ service: skip.key, advertised: false, reason: skip.reason, ...notes }]
      : [...skip.ips].sort(cmp).map((ip) => ({ service: skip.key, ip, advertised: false, reason: skip.reason, ...notes }));
  return { service: skip.key, virtualServers: [], claims: [], decisions };
}

export function viewFragment(view: ServiceView, ctx: NodeContext): ServiceFragment {
  const virtualServers: VirtualServer[] = [];
  const claims: PrefixClaim[] = [];
  const decisions: ServiceDecision[] = [];
  const notes = view.notes.length ? { notes: view.notes } : {};

  for (const ip of view.ips) {
    const local = ip.policy === 'Local';
    // Source ranges guard the LoadBalancer IPs only; none of the VIP's family admits nobody.
    const ranges = ip.source === 'loadBalancer' && view.sourceRanges.length > 0 ? { sourceRanges: view.sourceRanges.filter((c) => c.includes(':') === (ip.family === 'IPv6')) } : {};
    const localReady = new Set<string>();
    let programmed = 0;
    for (const p of view.ports) {
      const candidates: ViewBackend[] = [];
      for (const b of p.backends) {
        if (b.family !== ip.family) continue;
        const isLocal = b.nodeName === ctx.nodeName;
        if (isLocal && b.ready) localReady.add(b.address);
        if (!local || isLocal) candidates.push(b);
      }
      const realServers = selectRealServers(candidates);
      if (realServers.length === 0) continue;
      programmed++;
      virtualServers.push({
        vip: ip.ip,
        protocol: p.protocol,
        port: p.port,
        family: ip.family,
        scheduler: view.scheduler,
        schedulerFlags: view.schedulerFlags,
        persistenceSeconds: view.persistenceSeconds,
        forwarding: view.forwarding,
        realServers,
        services: [view.key],
        ...ranges,
      });
    }
    let reason: SkipReason | undefined;
    if (!ctx.eligible) reason = 'nodeNotEligible';
    else if (local && localReady.size === 0) reason = 'noLocalReadyEndpoints';
    else if (programmed === 0) reason = 'noReadyEndpoints';
    decisions.push({ service: view.key, ip: ip.ip, advertised: reason === undefined, ...(reason ? { reason } : {}), ...notes });
    if (reason === undefined) {
      const pool = poolFor(ip, ctx.pools);
      claims.push({
        prefix: hostPrefix(ip),
        family: ip.family,
        service: view.key,
        localReady: [...localReady].sort(cmp),
        weighted: pool.weightedEcmp && local,
        ...pool.attrs,
      });
    }
  }
  for (const ig of view.ignored) decisions.push({ service: view.key, ip: ig.ip, advertised: false, reason: ig.reason, ...notes });
  decisions.sort((a, b) => cmp(a.ip ?? '', b.ip ?? ''));
  return { service: view.key, virtualServers, claims, decisions };
}
