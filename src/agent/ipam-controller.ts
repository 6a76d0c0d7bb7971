/**
 * The IP allocation controller: one per agent, active only while its agent holds the Lease.
 * observe (informer caches) → allocate (pure) → write changed Service statuses → Events →
 * pool status. Every pass recomputes from the Services' statuses; a status we wrote but
 * have not yet seen come back through the watch is overlaid on the cache, so a pass never
 * treats an address it just handed out as free.
 */
import type { KubeConfig, V1Namespace, V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ClusterWatch, type WatchedKind } from '../k8s/informers.js';
import { EventRecorder, coreEventSink, type EventSink } from '../k8s/events.js';
import { LeaderElector, leaseClient, type LeaseClient } from '../k8s/leader-election.js';
import { pooledKubeConfig, type PooledKubeConfig } from '../k8s/pooled-kube-config.js';
import { eachLimit, isStale, statusApi, type StatusApi } from '../k8s/status-writer.js';
import { ReconcileLoop, type PassResult } from '../reconcile/loop.js';
import { allocate, type AllocationResult, type ServiceAllocation } from '../ipam/allocator.js';
import { DEFAULT_POOL_RULES, parsePools, type PoolRules } from '../ipam/pools.js';
import { checkExternalIps } from '../desired/external-ips.js';
import { parseCidrRange } from '../model/ip.js';
import { modelPools } from './pools.js';
import { IPPOOL_PLURAL, type IPPoolObject, type IPPoolStatus, type PoolCondition } from '../model/ip-pool.js';
import { serviceKey, serviceRequest, type RequestConfig } from '../ipam/service-request.js';
import { mergePeers } from './peers.js';
import { BGPPEER_PLURAL, type BGPPeerObject } from '../model/bgp-peer.js';
import type { StaticPeer } from '../config/config.js';
import type { ModelConfig } from '../desired/config.js';
import { overLimits } from '../desired/service-view.js';

export interface IpamControllerOptions {
  kc: KubeConfig;
  /**
   * The agent's informer set, shared with the node pass (the agent starts and stops it).
   * Default: the controller's own, started and stopped with it (tests run it alone).
   */
  informers?: ClusterWatch;
  logger: Logger;
  /** This agent's name in the Lease (e.g. the node name). */
  identity: string;
  config: RequestConfig;
  /** What a pool may be (the agents' --ipam.pool-min-prefix-*); default DEFAULT_POOL_RULES. */
  poolRules?: PoolRules;
  /**
   * The agents' --service.external-ip-cidrs: the leader writes the Warning Event on each
   * Service whose externalIPs the nodes refuse (the nodes compute the same answer, silently).
   */
  externalIpCidrs?: readonly string[];
  lease?: { namespace?: string; name?: string; durationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  resyncMs?: number;
  /** The agents' config peers (a BGPPeer for one of their addresses is not accepted). */
  staticPeers?: readonly StaticPeer[];
  /** Concurrent status writes (default 32). */
  writeConcurrency?: number;
  /** Injected for tests; default: the real API. */
  status?: StatusApi;
  events?: EventSink;
  leases?: LeaseClient;
  /**
   * The agents' per-Service caps: the leader (the one Event writer) puts a Warning
   * ServiceTooLarge on a Service over one; every agent refuses it on its own.
   */
  serviceLimits?: ModelConfig;
}

interface Written {
  baseRv: string | undefined;
  ips: readonly string[];
}

const ingress = (ips: readonly string[]) => ips.map((ip) => ({ ip }));

/** The node model's cost check on what the leader sees: ports, allocated plus external IPs, source ranges. */
function tooLargeReason(svc: V1Service, allocated: number, cfg: ModelConfig): string | undefined {
  const spec = svc.spec ?? {};
  const ips = Math.max(1, allocated + (cfg.advertiseExternalIPs ? (spec.externalIPs?.length ?? 0) : 0));
  return overLimits(spec.ports?.length ?? 0, ips, spec.loadBalancerSourceRanges?.length ?? 0, cfg);
}

export class IpamController {
  readonly services: WatchedKind<V1Service>;
  readonly pools: WatchedKind<IPPoolObject & { metadata?: { name?: string } }>;
  readonly namespaces: WatchedKind<V1Namespace>;
  /** Nodes: read for their addresses (externalIPs), not subscribed to (status heartbeats). */
  readonly nodes: WatchedKind<V1Node>;
  /** BGPPeer objects: the leader reports on each whether the agents can use it (condition Accepted). */
  readonly peers: WatchedKind<BGPPeerObject & { metadata?: { name?: string } }>;
  readonly elector: LeaderElector;
  readonly events: EventRecorder;
  private readonly loop: ReconcileLoop;
  private readonly status: StatusApi;
  private readonly log: Logger;
  private readonly written = new Map<string, Written>();
  private readonly poolWritten = new Map<string, { baseRv: string | undefined; json: string }>();
  private readonly peerWritten = new Map<string, { baseRv: string | undefined; json: string }>();
  private lastResult: AllocationResult | undefined;
  private passes = 0;
  private readonly kc: PooledKubeConfig;
  private readonly leaseKc: PooledKubeConfig;
  /** The informer set, when this controller made it (and so starts and stops it). */
  private readonly ownInformers: ClusterWatch | undefined;

  constructor(private readonly o: IpamControllerOptions) {
    this.log = o.logger.child({ component: 'ipam', identity: o.identity });
    const kc = (this.kc = pooledKubeConfig(o.kc, (o.writeConcurrency ?? 32) + 8));
    this.ownInformers = o.informers ? undefined : new ClusterWatch(kc, this.log);
    const informers = o.informers ?? this.ownInformers!;
    // Allocation reads Services, pools, Namespaces (pool selectors) and BGPPeers (conditions);
    // EndpointSlices and Nodes do not concern it.
    informers.subscribe(['Service', IPPOOL_PLURAL, 'Namespace', BGPPEER_PLURAL], (kind) => this.loop.trigger(kind));
    this.services = informers.services;
    this.namespaces = informers.namespaces;
    this.nodes = informers.nodes;
    this.pools = informers.pools;
    this.peers = informers.peers;
    this.status = o.status ?? statusApi(kc);
    this.events = new EventRecorder({ sink: o.events ?? coreEventSink(kc), component: 'bgpvs-ipam', instance: o.identity, logger: this.log });
    this.loop = new ReconcileLoop({ name: 'ipam', pass: () => this.pass(), logger: this.log, resyncMs: o.resyncMs ?? 60_000 });
    const renewDeadlineMs = o.lease?.renewDeadlineMs ?? 10_000;
    // The lease has its own connections: a burst of status writes must not queue a renew
    // behind it, and a renew request never outlives the renew deadline.
    this.leaseKc = pooledKubeConfig(o.kc, 2, { requestTimeoutMs: renewDeadlineMs });
    this.elector = new LeaderElector({
      client: o.leases ?? leaseClient(this.leaseKc),
      namespace: o.lease?.namespace ?? 'bgpvs-system',
      name: o.lease?.name ?? 'bgpvs-ipam',
      identity: o.identity,
      logger: this.log,
      leaseDurationMs: o.lease?.durationMs ?? 15_000,
      renewDeadlineMs,
      retryPeriodMs: o.lease?.retryPeriodMs ?? 2_000,
      onStartedLeading: () => {
        // A new term starts from what the API says, not from an earlier term's memory.
        this.written.clear();
        this.poolWritten.clear();
        this.peerWritten.clear();
        this.loop.start();
      },
      onStoppedLeading: () => this.loop.stop(),
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  get passCount(): number {
    return this.passes;
  }

  /** The last pass's allocation (tests, status CLI). */
  get result(): AllocationResult | undefined {
    return this.lastResult;
  }

  async start(): Promise<void> {
    await this.ownInformers?.start();
    this.elector.start();
  }

  /** Stop allocating and watching; releases the lease if held. */
  async stop(): Promise<void> {
    this.loop.stop();
    await this.elector.stop();
    await this.ownInformers?.stop();
    await this.events.drain();
    this.kc.destroy();
    this.leaseKc.destroy();
  }

  /** Ask for a pass (also what every watch event does). */
  trigger(reason: string): void {
    this.loop.trigger(reason);
  }

  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** The cache with our own not-yet-observed status writes laid over it. */
  private observedServices(): V1Service[] {
    const out: V1Service[] = [];
    const present = new Set<string>();
    for (const s of this.services.items()) {
      const key = serviceKey(s);
      present.add(key);
      const w = this.written.get(key);
      if (w && w.baseRv === s.metadata?.resourceVersion) {
        out.push({ ...s, status: { ...s.status, loadBalancer: { ingress: ingress(w.ips) } } });
      } else {
        if (w) this.written.delete(key);
        out.push(s);
      }
    }
    for (const k of this.written.keys()) if (!present.has(k)) this.written.delete(k);
    return out;
  }

  private async pass(): Promise<PassResult> {
    if (!this.elector.isLeader) return { failures: [] };
    if (!this.services.isSynced || !this.pools.isSynced || !this.namespaces.isSynced) return { failures: [] };
    this.passes++;
    const services = this.observedServices();
    const byKey = new Map(services.map((s) => [serviceKey(s), s]));
    const { pools, invalid } = parsePools(this.pools.items(), this.o.poolRules ?? DEFAULT_POOL_RULES);
    const namespaceLabels = new Map(this.namespaces.items().map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
    const result = allocate({ pools, services: services.map((s) => serviceRequest(s, this.o.config)), namespaceLabels });
    this.lastResult = result;

    const changes = result.services.filter((a) => a.changed);
    const failures = await eachLimit(changes, this.o.writeConcurrency ?? 32, async (a) => {
      const svc = byKey.get(a.key);
      if (!svc || !this.elector.isLeader) return;
      await this.writeService(svc, a);
    });

    for (const a of result.services) {
      const svc = byKey.get(a.key);
      if (!svc) continue;
      const target = { kind: 'Service', apiVersion: 'v1', namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid };
      for (const why of a.lost ?? []) this.events.record(target, 'Warning', 'AddressConflict', why);
      const tooLarge = this.o.serviceLimits ? tooLargeReason(svc, a.ips.length, this.o.serviceLimits) : undefined;
      if (tooLarge) this.events.record(target, 'Warning', 'ServiceTooLarge', `not served by any node: ${tooLarge}`);
      else if (a.failure) this.events.record(target, 'Warning', a.failure.reason, a.failure.message);
      else if (a.ips.length > 0) this.events.record(target, 'Normal', 'IPAllocated', `assigned ${a.ips.join(', ')} from pool ${[...new Set(a.pools)].join(', ')}`);
    }
    if (this.nodes.isSynced) {
      // Every node drops these externalIPs; the leader alone says so, once per Service.
      const cidrs = (xs: readonly string[]) => xs.flatMap((c) => parseCidrRange(c) ?? []);
      const verdicts = checkExternalIps({ services, nodes: this.nodes.items(), poolCidrs: cidrs(modelPools(pools).flatMap((p) => p.cidrs)), allowed: cidrs(this.o.externalIpCidrs ?? []) });
      for (const [key, v] of verdicts) {
        const svc = byKey.get(key);
        if (!svc || v.refused.length === 0) continue;
        const target = { kind: 'Service', apiVersion: 'v1', namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid };
        this.events.record(target, 'Warning', 'ExternalIPRefused', `not programmed or announced: ${v.refused.slice(0, 8).map((r) => r.message).join('; ')}${v.refused.length > 8 ? `; and ${v.refused.length - 8} more` : ''}`);
      }
    }
    for (const k of [...this.events.knownObjects()]) if (k.startsWith('Service/') && !byKey.has(k.slice('Service/'.length))) this.events.forgetKey(k);

    failures.push(...(await this.writePoolStatuses(result, invalid)));
    if (this.peers.isSynced) failures.push(...(await this.writePeerStatuses()));
    const assigned = result.services.filter((a) => a.ips.length > 0).length;
    const failed = result.services.filter((a) => a.failure).length;
    if (changes.length > 0) this.log.info({ services: result.services.length, written: changes.length, assigned, failed }, 'allocation pass wrote statuses');
    else this.log.debug({ services: result.services.length, assigned, failed }, 'allocation pass: no change');
    return { failures };
  }

  private async writeService(svc: V1Service, a: ServiceAllocation): Promise<void> {
    const key = a.key;
    const baseRv = svc.metadata?.resourceVersion;
    try {
      await this.status.replaceServiceStatus({ ...svc, status: { ...svc.status, loadBalancer: { ingress: ingress(a.ips) } } });
      // Our write is visible in the cache once the cached resourceVersion moves past baseRv.
      this.written.set(key, { baseRv, ips: a.ips });
      this.log.info({ svc: key, ips: a.ips, pools: a.pools, op: a.ips.length > 0 ? 'assign' : 'release' }, 'service status written');
    } catch (err) {
      if (isStale(err)) {
        this.log.debug({ svc: key, reason: 'stale' }, 'status write skipped; will retry on the next event');
        return;
      }
      throw err;
    }
  }

  /**
   * Condition Accepted on each BGPPeer: False with the reason when no agent can use it (what
   * the schema could not reject, or an address a config peer or another object already has),
   * else True. Written only when it changes.
   */
  private async writePeerStatuses(): Promise<Error[]> {
    const { problems } = mergePeers(this.o.staticPeers ?? [], this.peers.items());
    const bad = new Map(problems.map((p) => [p.name, p.reason]));
    return eachLimit(this.peers.items(), 4, async (p) => {
      const name = p.metadata?.name ?? '';
      const why = bad.get(name);
      const prev = p.status?.conditions?.find((c) => c.type === 'Accepted');
      const cond = why
        ? { type: 'Accepted', status: 'False', reason: 'InvalidSpec', message: why }
        : { type: 'Accepted', status: 'True', reason: 'Valid', message: 'agents on the selected nodes peer with it' };
      if (prev && prev.status === cond.status && prev.reason === cond.reason && prev.message === cond.message && prev.observedGeneration === p.metadata?.generation) return;
      const w = this.peerWritten.get(name);
      const json = JSON.stringify(cond);
      if (w && w.baseRv === p.metadata?.resourceVersion && w.json === json) return;
      const conditions = [...(p.status?.conditions ?? []).filter((c) => c.type !== 'Accepted'), { ...cond, lastTransitionTime: prev?.status === cond.status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date().toISOString(), observedGeneration: p.metadata?.generation }];
      try {
        await this.status.replacePeerStatus({ ...p, status: { ...p.status, observedGeneration: p.metadata?.generation, conditions } } as BGPPeerObject);
        this.peerWritten.set(name, { baseRv: p.metadata?.resourceVersion, json });
      } catch (err) {
        if (!isStale(err)) throw err;
      }
    });
  }

  private async writePoolStatuses(result: AllocationResult, invalid: readonly { name: string; reason: string }[]): Promise<Error[]> {
    const bad = new Map(invalid.map((i) => [i.name, i.reason]));
    const pools = this.pools.items();
    return eachLimit(pools, 4, async (p) => {
      const name = p.metadata?.name ?? '';
      const u = result.usage.get(name);
      const why = bad.get(name);
      const prev = p.status?.conditions?.find((c) => c.type === 'Ready');
      const cond: PoolCondition = why
        ? { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: why }
        : { type: 'Ready', status: 'True', reason: 'Valid', message: 'pool is in use by the allocator' };
      cond.lastTransitionTime = prev && prev.status === cond.status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date().toISOString();
      cond.observedGeneration = p.metadata?.generation;
      const status: IPPoolStatus = {
        used: (u?.IPv4 ?? 0) + (u?.IPv6 ?? 0),
        free: u?.free ?? '0',
        usedIPv4: u?.IPv4 ?? 0,
        usedIPv6: u?.IPv6 ?? 0,
        observedGeneration: p.metadata?.generation,
        conditions: [cond],
      };
      const cmp = (s: IPPoolStatus | undefined) =>
        JSON.stringify({ ...s, conditions: (s?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, g: c.observedGeneration })) });
      const json = cmp(status);
      if (cmp(p.status) === json) return;
      const w = this.poolWritten.get(name);
      if (w && w.baseRv === p.metadata?.resourceVersion && w.json === json) return;
      try {
        await this.status.replacePoolStatus({ ...p, status });
        this.poolWritten.set(name, { baseRv: p.metadata?.resourceVersion, json });
      } catch (err) {
        if (!isStale(err)) throw err;
      }
    });
  }
}
