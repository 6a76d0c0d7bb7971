/**
 * The desired state of one node, built from a cluster snapshot.
 *
 * `buildNodeDesiredState` is the pure function. `ModelBuilder` computes the same result
 * incrementally: it keeps one fragment per Service (derived data only, keyed by the identity of
 * the Service object and its EndpointSlices) and re-merges only the virtual servers and prefixes
 * those fragments touch. Both give equal output for equal input; a unit test holds them to it.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { ServiceSnapshot } from '../model/snapshot.js';
import type { Advertisement, NodeDesiredState, ServiceDecision, VirtualServer, VirtualServerKey } from '../model/types.js';
import { compileModelConfig, type CompiledModelConfig, type ModelConfig } from './config.js';
import { skipFragment, viewFragment, type NodeContext, type PrefixClaim, type ServiceFragment } from './node-fragment.js';
import { cmp, compareVirtualServers, vsKey } from './order.js';
import { nodeEligibility } from './node-eligibility.js';
import { buildServiceView, sliceServiceKey } from './service-view.js';


export function buildNodeDesiredState(snapshot: ServiceSnapshot, nodeName: string, cfg: ModelConfig): NodeDesiredState {
  const b = new ModelBuilder(cfg, nodeName);
  b.sync(snapshot);
  return b.build();
}

/** First index in sorted `arr` whose element is not before the target (`before(x)` true while x < target). */
function lowerBound<T>(arr: readonly T[], before: (x: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(arr[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Above this share of changed entries, re-sorting everything beats patching one by one. */
const PATCH_LIMIT = 0.1;

interface SliceEntry {
  slice: V1EndpointSlice;
  service: string | undefined;
}

export class ModelBuilder {
  private readonly compiled: CompiledModelConfig;
  private readonly nodeName: string;
  private node: V1Node | undefined;
  private eligible = false;

  // inputs, held by reference only to notice changes
  private readonly services = new Map<string, V1Service>();
  private readonly slices = new Map<string, SliceEntry>();
  private readonly slicesByService = new Map<string, Map<string, V1EndpointSlice>>();

  /** Keys of objects already seen: a changed object is a new object, so its key is computed once. */
  private readonly keys = new WeakMap<V1Service | V1EndpointSlice, string>();
  private readonly keyOf = (o: V1Service | V1EndpointSlice): string => {
    let k = this.keys.get(o);
    if (k === undefined) this.keys.set(o, (k = `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`));
    return k;
  };
  /** The lists of the last sync(), to skip objects unchanged in place. */
  private lastServices: readonly V1Service[] = [];
  private lastSlices: readonly V1EndpointSlice[] = [];

  // derived
  private readonly fragments = new Map<string, ServiceFragment>();
  private readonly vsClaims = new Map<string, Map<string, VirtualServer>>();
  private readonly prefixClaims = new Map<string, Map<string, PrefixClaim>>();
  private readonly mergedVs = new Map<string, VirtualServer>();
  private readonly mergedAds = new Map<string, Advertisement>();
  /** (VIP, protocol, port) wanted by several Services → the Services that lost it, with a note. */
  private readonly conflicts = new Map<string, { vip: string; losers: readonly string[]; note: string }>();

  // what changed since the last build()
  private readonly dirtyServices = new Set<string>();
  /** virtual-server key → its (VIP, protocol, port), to find it in the sorted output */
  private readonly dirtyVs = new Map<string, VirtualServerKey>();
  private readonly dirtyPrefixes = new Set<string>();
  private readonly dirtyDecisions = new Set<string>();

  // last output, sorted; patched in place on a copy
  private vsOut: readonly VirtualServer[] = [];
  private adsOut: readonly Advertisement[] = [];
  private decisionsOut: readonly ServiceDecision[] = [];
  /** How many Services the last build() recomputed (the rest came from their cached fragments). */
  lastRecomputed = 0;

  constructor(cfg: ModelConfig, nodeName: string) {
    this.compiled = compileModelConfig(cfg);
    this.nodeName = nodeName;
  }

  /** This node's Node object (undefined: gone). Other nodes never matter to this node's state. */
  setNode(node: V1Node | undefined): void {
    if (node === this.node && node !== undefined) return;
    this.node = node;
    const eligible = nodeEligibility(node, this.compiled.cfg.nodeSelector).eligible;
    if (eligible === this.eligible) return;
    this.eligible = eligible;
    for (const k of this.services.keys()) this.dirtyServices.add(k);
  }

  // The event methods (for informer handlers) and sync() (for whole snapshots) may be mixed:
  // an event makes the next sync() compare every object rather than trust positions.

  upsertService(svc: V1Service): void {
    this.forgetLists();
    this.putService(svc);
  }

  deleteService(key: string): void {
    this.forgetLists();
    this.removeService(key);
  }

  upsertEndpointSlice(slice: V1EndpointSlice): void {
    this.forgetLists();
    this.putSlice(slice);
  }

  deleteEndpointSlice(key: string): void {
    this.forgetLists();
    this.removeSlice(key);
  }

  private forgetLists(): void {
    this.lastServices = [];
    this.lastSlices = [];
  }

  private putService(svc: V1Service): void {
    const k = this.keyOf(svc);
    if (this.services.get(k) === svc) return;
    this.services.set(k, svc);
    this.dirtyServices.add(k);
  }

  private removeService(key: string): void {
    if (this.services.delete(key)) this.dirtyServices.add(key);
  }

  private putSlice(slice: V1EndpointSlice): void {
    const k = this.keyOf(slice);
    const prev = this.slices.get(k);
    if (prev?.slice === slice) return;
    if (prev) this.unlinkSlice(k, prev);
    const service = sliceServiceKey(slice);
    this.slices.set(k, { slice, service });
    if (service !== undefined) {
      let m = this.slicesByService.get(service);
      if (!m) this.slicesByService.set(service, (m = new Map()));
      m.set(k, slice);
      this.dirtyServices.add(service);
    }
  }

  private removeSlice(key: string): void {
    const prev = this.slices.get(key);
    if (!prev) return;
    this.slices.delete(key);
    this.unlinkSlice(key, prev);
  }

  private unlinkSlice(k: string, e: SliceEntry): void {
    if (e.service === undefined) return;
    const m = this.slicesByService.get(e.service);
    m?.delete(k);
    if (m?.size === 0) this.slicesByService.delete(e.service);
    this.dirtyServices.add(e.service);
  }

  /**
   * Brings the inputs to `snapshot`, noticing changes by object identity (informer caches
   * replace a changed object with a new one). Keys (namespace/name) are unique within each
   * list, as in any Kubernetes list.
   */
  sync(snapshot: ServiceSnapshot): void {
    this.setNode(snapshot.nodes.find((n) => n.metadata?.name === this.nodeName));
    const { lastServices, lastSlices } = this;
    snapshot.services.forEach((s, i) => {
      if (s !== lastServices[i]) this.putService(s); // same object at the same place: unchanged
    });
    if (this.services.size > snapshot.services.length) {
      const seen = new Set(snapshot.services.map(this.keyOf));
      for (const k of [...this.services.keys()]) if (!seen.has(k)) this.removeService(k);
    }
    this.lastServices = snapshot.services;
    snapshot.endpointSlices.forEach((s, i) => {
      if (s !== lastSlices[i]) this.putSlice(s);
    });
    if (this.slices.size > snapshot.endpointSlices.length) {
      const seen = new Set(snapshot.endpointSlices.map(this.keyOf));
      for (const k of [...this.slices.keys()]) if (!seen.has(k)) this.removeSlice(k);
    }
    this.lastSlices = snapshot.endpointSlices;
  }

  /** The node's desired state; recomputes only what changed since the last call. */
  build(): NodeDesiredState {
    const ctx: NodeContext = { nodeName: this.nodeName, eligible: this.eligible, pools: this.compiled.pools };
    this.lastRecomputed = this.dirtyServices.size;
    for (const k of this.dirtyServices) this.recomputeService(k, ctx);
    this.dirtyServices.clear();
    for (const k of this.dirtyVs.keys()) this.mergeVs(k);
    for (const p of this.dirtyPrefixes) this.mergePrefix(p);
    this.renderVirtualServers();
    this.renderAdvertisements();
    this.renderDecisions();
    return { virtualServers: this.vsOut, advertisements: this.adsOut, decisions: this.decisionsOut };
  }

  private recomputeService(k: string, ctx: NodeContext): void {
    const old = this.fragments.get(k);
    if (old) {
      for (const vs of old.virtualServers) this.dropClaim(this.vsClaims, vs, k);
      for (const c of old.claims) this.dropPrefixClaim(c.prefix, k);
      this.fragments.delete(k);
    }
    this.dirtyDecisions.add(k);
    const svc = this.services.get(k);
    if (!svc) return;
    const slices = [...(this.slicesByService.get(k)?.entries() ?? [])].sort((a, b) => cmp(a[0], b[0])).map((e) => e[1]);
    const r = buildServiceView(svc, slices, this.compiled.cfg);
    const frag = r.kind === 'view' ? viewFragment(r.view, ctx) : skipFragment(r.skip);
    this.fragments.set(k, frag);
    for (const vs of frag.virtualServers) {
      const key = vsKey(vs);
      let byService = this.vsClaims.get(key);
      if (!byService) this.vsClaims.set(key, (byService = new Map()));
      byService.set(k, vs);
      this.dirtyVs.set(key, vs);
    }
    for (const c of frag.claims) {
      let byService = this.prefixClaims.get(c.prefix);
      if (!byService) this.prefixClaims.set(c.prefix, (byService = new Map()));
      byService.set(k, c);
      this.dirtyPrefixes.add(c.prefix);
    }
  }

  private dropClaim(m: Map<string, Map<string, VirtualServer>>, vs: VirtualServer, svc: string): void {
    const key = vsKey(vs);
    const byService = m.get(key);
    if (!byService) return;
    byService.delete(svc);
    if (byService.size === 0) m.delete(key);
    this.dirtyVs.set(key, vs);
  }

  private dropPrefixClaim(prefix: string, svc: string): void {
    const byService = this.prefixClaims.get(prefix);
    if (!byService) return;
    byService.delete(svc);
    if (byService.size === 0) this.prefixClaims.delete(prefix);
    this.dirtyPrefixes.add(prefix);
  }

  /** One (VIP, protocol, port) wanted by several Services: the first by namespace/name wins, the others get a note. */
  private mergeVs(key: string): void {
    const old = this.conflicts.get(key);
    if (old) {
      for (const l of old.losers) this.dirtyDecisions.add(l);
      this.conflicts.delete(key);
    }
    const claims = this.vsClaims.get(key);
    if (!claims) {
      this.mergedVs.delete(key);
      return;
    }
    const names = [...claims.keys()].sort(cmp);
    const winner = names[0]!;
    const vs = claims.get(winner)!;
    this.mergedVs.set(key, vs);
    if (names.length > 1) {
      const note = `portConflict: ${vs.protocol}/${vs.port} on ${vs.vip} is served for ${winner}`;
      this.conflicts.set(key, { vip: vs.vip, losers: names.slice(1), note });
      for (const l of names.slice(1)) this.dirtyDecisions.add(l);
    }
  }

  private mergePrefix(prefix: string): void {
    const claims = this.prefixClaims.get(prefix);
    if (!claims) {
      this.mergedAds.delete(prefix);
      return;
    }
    const list = [...claims.values()].sort((a, b) => cmp(a.service, b.service));
    const first = list[0]!;
    // Weighted ECMP's weight: ready local endpoints summed over the Services sharing the VIP
    // (each Service's share of the traffic follows its own endpoints).
    let localReady = 0;
    for (const c of list) localReady += c.localReady.length;
    this.mergedAds.set(prefix, {
      prefix,
      family: first.family,
      communities: first.communities,
      largeCommunities: first.largeCommunities,
      ...(first.localPref !== undefined ? { localPref: first.localPref } : {}),
      services: list.map((c) => c.service),
      localReadyEndpoints: localReady,
      weighted: list.some((c) => c.weighted),
    });
  }

  // Output: a new sorted array each build (callers may keep the previous one to diff against),
  // copied and patched where little changed, re-sorted where much did.

  private renderVirtualServers(): void {
    if (this.dirtyVs.size === 0) return;
    if (this.dirtyVs.size > PATCH_LIMIT * this.vsOut.length) {
      this.vsOut = [...this.mergedVs.values()].sort(compareVirtualServers);
    } else {
      const out = this.vsOut.slice();
      for (const [key, k] of this.dirtyVs) {
        const i = lowerBound(out, (x) => compareVirtualServers(x, k) < 0);
        const present = i < out.length && vsKey(out[i]!) === key;
        const now = this.mergedVs.get(key);
        if (now) out.splice(i, present ? 1 : 0, now);
        else if (present) out.splice(i, 1);
      }
      this.vsOut = out;
    }
    this.dirtyVs.clear();
  }

  private renderAdvertisements(): void {
    if (this.dirtyPrefixes.size === 0) return;
    if (this.dirtyPrefixes.size > PATCH_LIMIT * this.adsOut.length) {
      this.adsOut = [...this.mergedAds.values()].sort((a, b) => cmp(a.prefix, b.prefix));
    } else {
      const out = this.adsOut.slice();
      for (const p of this.dirtyPrefixes) {
        const i = lowerBound(out, (x) => x.prefix < p);
        const present = i < out.length && out[i]!.prefix === p;
        const now = this.mergedAds.get(p);
        if (now) out.splice(i, present ? 1 : 0, now);
        else if (present) out.splice(i, 1);
      }
      this.adsOut = out;
    }
    this.dirtyPrefixes.clear();
  }

  /** A Service's decisions, with notes for the virtual servers it lost to another Service. */
  private decisionsOf(svc: string, lost: ReadonlyMap<string, ReadonlyMap<string, string[]>>): readonly ServiceDecision[] {
    const frag = this.fragments.get(svc);
    if (!frag) return [];
    const byIp = lost.get(svc);
    if (!byIp) return frag.decisions;
    return frag.decisions.map((d) => {
      const mine = d.ip !== undefined ? byIp.get(d.ip) : undefined;
      return mine ? { ...d, notes: [...(d.notes ?? []), ...[...mine].sort(cmp)] } : d;
    });
  }

  private renderDecisions(): void {
    if (this.dirtyDecisions.size === 0) return;
    // service → ip → conflict notes (conflicts are rare; this map is usually empty)
    const lost = new Map<string, Map<string, string[]>>();
    for (const c of this.conflicts.values()) {
      for (const svc of c.losers) {
        let byIp = lost.get(svc);
        if (!byIp) lost.set(svc, (byIp = new Map()));
        byIp.set(c.vip, [...(byIp.get(c.vip) ?? []), c.note]);
      }
    }
    if (this.dirtyDecisions.size > PATCH_LIMIT * this.fragments.size) {
      const out: ServiceDecision[] = [];
      for (const s of [...this.fragments.keys()].sort(cmp)) for (const d of this.decisionsOf(s, lost)) out.push(d);
      this.decisionsOut = out;
    } else {
      const out = this.decisionsOut.slice();
      for (const s of this.dirtyDecisions) {
        const i = lowerBound(out, (x) => x.service < s);
        let n = 0;
        while (i + n < out.length && out[i + n]!.service === s) n++;
        out.splice(i, n, ...this.decisionsOf(s, lost));
      }
      this.decisionsOut = out;
    }
    this.dirtyDecisions.clear();
  }
}
