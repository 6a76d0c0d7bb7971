/**
 * The node reconciler: one pass = observe (snapshot) → compute desired (pure model) →
 * apply through each adapter (VIPs, data plane, BGP) → report (decisions, metrics).
 * Steps are independent: a failing one does not stop the others, and the pass returns
 * every failure for the loop to retry. The agent never flushes on start: each adapter
 * diffs against what the node really has.
 */
import type { Logger } from 'pino';
import type { ClusterSnapshot } from '../desired/builder.js';
import type { Advertisement, NodeDesiredState, ServiceDecision, VirtualServer } from '../model/types.js';
import type { PassResult } from '../reconcile/loop.js';

/** What the reconciler needs of each adapter; implementations live in dataplane/, bgp/, k8s/. */
export interface SnapshotSource {
  /** Undefined until the first full list of every watched kind has arrived. */
  snapshot(): ClusterSnapshot | undefined;
}
export interface DesiredStateBuilder {
  build(snapshot: ClusterSnapshot): NodeDesiredState;
}
export interface VipPort {
  /** Make exactly these VIPs (bgpvs-owned) present on the node. */
  sync(vips: readonly string[]): Promise<void>;
}
export interface DataPlanePort {
  sync(desired: readonly VirtualServer[]): Promise<unknown>;
}
export interface AdvertiserPort {
  setAdvertisements(ads: readonly Advertisement[]): Promise<unknown>;
}
export interface DecisionSink {
  /** Told the decisions of every pass; reports changes (Events, conditions, logs). */
  report(decisions: readonly ServiceDecision[]): Promise<void>;
}

export interface NodeReconcilerDeps {
  source: SnapshotSource;
  model: DesiredStateBuilder;
  vips?: VipPort;
  dataplane: DataPlanePort;
  advertiser: AdvertiserPort;
  decisions?: DecisionSink;
  logger: Logger;
  onDesired?: (d: NodeDesiredState) => void;
}

export class NotSyncedError extends Error {
  constructor() {
    super('cluster state not yet listed; waiting for the first full list');
    this.name = 'NotSyncedError';
  }
}

/** The distinct VIPs of a set of virtual servers, sorted. */
export function vipsOf(vs: readonly VirtualServer[]): string[] {
  return [...new Set(vs.map((v) => v.vip))].sort();
}

export class NodeReconciler {
  private last: NodeDesiredState | undefined;
  /** Prefixes whose data plane was programmed and which we asked BGP to announce. */
  private announced = new Set<string>();
  constructor(private readonly d: NodeReconcilerDeps) {}

  get lastDesired(): NodeDesiredState | undefined {
    return this.last;
  }

  readonly pass = async (reason: string): Promise<PassResult> => {
    const snap = this.d.source.snapshot();
    // Before the first full list, doing nothing keeps whatever the node already serves.
    if (!snap) return { failures: [new NotSyncedError()] };
    const desired = this.d.model.build(snap);
    this.last = desired;
    this.d.onDesired?.(desired);
    const failures: Error[] = [];
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        failures.push(Object.assign(e, { step: name }));
      }
    };
    // Program the node before announcing, so traffic that arrives finds its service. If the
    // node could not be programmed, announce nothing new (withdrawals still go out): a VIP
    // must never attract traffic this node does not serve.
    if (this.d.vips) await step('vips', () => this.d.vips!.sync(vipsOf(desired.virtualServers)));
    await step('dataplane', () => this.d.dataplane.sync(desired.virtualServers));
    const programmed = failures.length === 0;
    const ads = programmed ? desired.advertisements : desired.advertisements.filter((a) => this.announced.has(a.prefix));
    const before = failures.length;
    await step('bgp', () => this.d.advertiser.setAdvertisements(ads));
    if (failures.length === before) this.announced = new Set(ads.map((a) => a.prefix));
    if (this.d.decisions) await step('decisions', () => this.d.decisions!.report(desired.decisions));
    this.d.logger.debug(
      { reason, virtualServers: desired.virtualServers.length, advertisements: desired.advertisements.length, failures: failures.length },
      'node pass',
    );
    return { failures };
  };
}
