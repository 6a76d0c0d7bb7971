/**
 * The desired state of one node, built from a cluster snapshot.
 *
 * `buildNodeDesiredState` is the pure function. `ModelBuilder` computes the same result
 * incrementally: it keeps one fragment per Service (derived data only, keyed by the identity of
 * the Service object and its EndpointSlices) and re-merges only the virtual servers and prefixes
 * those fragments touch. Both give equal output for equal input; a unit test holds them to it.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { Advertisement, NodeDesiredState, ServiceDecision, VirtualServer } from '../model/types.js';
import { compileModelConfig, type CompiledModelConfig, type ModelConfig } from './config.js';
import { skipFragment, viewFragment, type NodeContext, type PrefixClaim, type ServiceFragment } from './node-fragment.js';
import { cmp, compareVirtualServers, vsKey } from './order.js';
import { nodeEligibility } from './node-eligibility.js';
import { buildServiceView, serviceKey, sliceServiceKey } from './service-view.js';

export interface ClusterSnapshot {
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  nodes: readonly V1Node[];
}

export function buildNodeDesiredState(snapshot: ClusterSnapshot, nodeName: string, cfg: ModelConfig): NodeDesiredState {
  const b = new ModelBuilder(cfg, nodeName);
  b.sync(snapshot);
  return b.build();
}

const objKey = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`;

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

  // derived
  private readonly fragments = new Map<string, ServiceFragment>();
  private readonly vsClaims = new Map<string, Map<string, VirtualServer>>();
  private readonly prefixClaims = new Map<string, Map<string, PrefixClaim>>();
  private readonly mergedVs = new Map<string, VirtualServer>();
  private readonly mergedAds = new Map<string, Advertisement>();
  /** (VIP, protocol, port) wanted by several Services → the Services that lost it, with a note. */
  private readonly conflicts = new Map<string, { vip: string; losers: readonly string[]; note: string }>();

  private readonly dirtyServices = new Set<string>();
  private readonly dirtyVs = new Set<string>();
  private readonly dirtyPrefixes = new Set<string>();

  private vsOut: VirtualServer[] = [];
  private adsOut: Advertisement[] = [];
  private decisionsOut: ServiceDecision[] = [];
  private sortedServices: string[] = [];
  private vsKeysChanged = false;
  private prefixKeysChanged = false;
  private servicesChanged = false;
  private outputStale = true;
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

  upsertService(svc: V1Service): void {
    const k = serviceKey(svc);
    if (this.services.get(k) === svc) return;
    if (!this.services.has(k)) this.servicesChanged = true;
    this.services.set(k, svc);
    this.dirtyServices.add(k);
  }

  deleteService(key: string): void {
    if (!this.services.delete(key)) return;
    this.servicesChanged = true;
    this.dirtyServices.add(key);
  }

  upsertEndpointSlice(slice: V1EndpointSlice): void {
    const k = objKey(slice);
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

  deleteEndpointSlice(key: string): void {
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

  /** Brings the inputs to `snapshot`, noticing changes by object identity (informer caches replace changed objects). */
  sync(snapshot: ClusterSnapshot): void {
    this.setNode(snapshot.nodes.find((n) => n.metadata?.name === this.nodeName));
    const seenSvc = new Set<string>();
    for (const s of snapshot.services) {
      seenSvc.add(serviceKey(s));
      this.upsertService(s);
    }
    for (const k of [...this.services.keys()]) if (!seenSvc.has(k)) this.deleteService(k);
    const seenSlice = new Set<string>();
    for (const s of snapshot.endpointSlices) {
      seenSlice.add(objKey(s));
      this.upsertEndpointSlice(s);
    }
    for (const k of [...this.slices.keys()]) if (!seenSlice.has(k)) this.deleteEndpointSlice(k);
  }

  /** The node's desired state; recomputes only what changed since the last call. */
  build(): NodeDesiredState {
    const ctx: NodeContext = { nodeName: this.nodeName, eligible: this.eligible, pools: this.compiled.pools };
    this.lastRecomputed = this.dirtyServices.size;
    for (const k of this.dirtyServices) this.recomputeService(k, ctx);
    this.dirtyServices.clear();
    for (const k of this.dirtyVs) this.mergeVs(k);
    this.dirtyVs.clear();
    for (const p of this.dirtyPrefixes) this.mergePrefix(p);
    this.dirtyPrefixes.clear();
    if (this.outputStale) this.renderOutput();
    return { virtualServers: this.vsOut, advertisements: this.adsOut, decisions: this.decisionsOut };
  }

  private recomputeService(k: string, ctx: NodeContext): void {
    const old = this.fragments.get(k);
    if (old) {
      for (const vs of old.virtualServers) this.dropClaim(this.vsClaims, vsKey(vs), k, this.dirtyVs);
      for (const c of old.claims) this.dropClaim(this.prefixClaims, c.prefix, k, this.dirtyPrefixes);
      this.fragments.delete(k);
    }
    this.outputStale = true;
    const svc = this.services.get(k);
    if (!svc) return;
    const slices = [...(this.slicesByService.get(k)?.entries() ?? [])].sort((a, b) => cmp(a[0], b[0])).map((e) => e[1]);
    const r = buildServiceView(svc, slices, this.compiled.cfg);
    const frag = r.kind === 'view' ? viewFragment(r.view, ctx) : skipFragment(r.skip);
    this.fragments.set(k, frag);
    for (const vs of frag.virtualServers) this.addClaim(this.vsClaims, vsKey(vs), k, vs, this.dirtyVs);
    for (const c of frag.claims) this.addClaim(this.prefixClaims, c.prefix, k, c, this.dirtyPrefixes);
  }

  private addClaim<T>(m: Map<string, Map<string, T>>, key: string, svc: string, v: T, dirty: Set<string>): void {
    let byService = m.get(key);
    if (!byService) m.set(key, (byService = new Map()));
    byService.set(svc, v);
    dirty.add(key);
  }

  private dropClaim<T>(m: Map<string, Map<string, T>>, key: string, svc: string, dirty: Set<string>): void {
    const byService = m.get(key);
    if (!byService) return;
    byService.delete(svc);
    if (byService.size === 0) m.delete(key);
    dirty.add(key);
  }

  /** One (VIP, protocol, port) wanted by several Services: the first by namespace/name wins, the others get a note. */
  private mergeVs(key: string): void {
    this.conflicts.delete(key);
    const claims = this.vsClaims.get(key);
    if (!claims) {
      if (this.mergedVs.delete(key)) this.vsKeysChanged = true;
      return;
    }
    const names = [...claims.keys()].sort(cmp);
    const winner = names[0]!;
    if (!this.mergedVs.has(key)) this.vsKeysChanged = true;
    this.mergedVs.set(key, claims.get(winner)!);
    const vs = claims.get(winner)!;
    if (names.length > 1) {
      const note = `portConflict: ${vs.protocol}/${vs.port} on ${vs.vip} is served for ${winner}`;
      this.conflicts.set(key, { vip: vs.vip, losers: names.slice(1), note });
    }
  }

  private mergePrefix(prefix: string): void {
    const claims = this.prefixClaims.get(prefix);
    if (!claims) {
      if (this.mergedAds.delete(prefix)) this.prefixKeysChanged = true;
      return;
    }
    const list = [...claims.values()].sort((a, b) => cmp(a.service, b.service));
    const first = list[0]!;
    const local = new Set<string>();
    for (const c of list) for (const a of c.localReady) local.add(a);
    if (!this.mergedAds.has(prefix)) this.prefixKeysChanged = true;
    this.mergedAds.set(prefix, {
      prefix,
      family: first.family,
      communities: first.communities,
      largeCommunities: first.largeCommunities,
      ...(first.localPref !== undefined ? { localPref: first.localPref } : {}),
      services: list.map((c) => c.service),
      localReadyEndpoints: local.size,
      weighted: list.some((c) => c.weighted),
    });
  }

  private renderOutput(): void {
    if (this.vsKeysChanged) {
      this.vsOut = [...this.mergedVs.values()].sort(compareVirtualServers);
      this.vsKeysChanged = false;
    } else {
      // same keys in the same order; values may have changed
      this.vsOut = this.vsOut.map((v) => this.mergedVs.get(vsKey(v))!);
    }
    if (this.prefixKeysChanged) {
      this.adsOut = [...this.mergedAds.values()].sort((a, b) => cmp(a.prefix, b.prefix));
      this.prefixKeysChanged = false;
    } else {
      this.adsOut = this.adsOut.map((a) => this.mergedAds.get(a.prefix)!);
    }
    if (this.servicesChanged) {
      this.sortedServices = [...this.fragments.keys()].sort(cmp);
      this.servicesChanged = false;
    }
    // service → ip → conflict notes (conflicts are rare; this map is usually empty)
    const lost = new Map<string, Map<string, string[]>>();
    for (const c of this.conflicts.values()) {
      for (const svc of c.losers) {
        let byIp = lost.get(svc);
        if (!byIp) lost.set(svc, (byIp = new Map()));
        byIp.set(c.vip, [...(byIp.get(c.vip) ?? []), c.note]);
      }
    }
    const out: ServiceDecision[] = [];
    for (const s of this.sortedServices) {
      const frag = this.fragments.get(s);
      if (!frag) continue;
      const byIp = lost.get(s);
      if (!byIp) {
        for (const d of frag.decisions) out.push(d);
        continue;
      }
      for (const d of frag.decisions) {
        const mine = d.ip !== undefined ? byIp.get(d.ip) : undefined;
        out.push(mine ? { ...d, notes: [...(d.notes ?? []), ...mine.sort(cmp)] } : d);
      }
    }
    this.decisionsOut = out;
    this.outputStale = false;
  }
}
