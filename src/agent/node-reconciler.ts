/**
 * The node pass, one pipeline:
 *   observe (informer caches + peer Secrets) → plan (pure: src/agent/node-plan.ts) →
 *   apply (data plane, then BGP) → report (metrics, problems, GET /status).
 * Steps are independent: a failing one does not stop the others, and the pass returns every
 * failure for the loop to retry. The agent never flushes on start: each adapter diffs against
 * what the node really has.
 */
import type { Logger } from 'pino';
import type { Advertisement, VirtualServer } from '../model/types.js';
import type { DataPlaneContext } from '../dataplane/types.js';
import type { PassResult } from '../reconcile/loop.js';
import type { NodeObservation, NodePlan } from './node-plan.js';

/** What the pass needs of each side; implementations live in k8s/, dataplane/, bgp/. */
export interface NodePassDeps {
  /** Undefined until the first full list of every watched kind has arrived. */
  observe(): Promise<NodeObservation | undefined>;
  /** Pure (a memo at most): the plan for one observation. */
  plan(obs: NodeObservation): NodePlan;
  dataplane: { sync(desired: readonly VirtualServer[], ctx: DataPlaneContext): Promise<unknown> };
  /** The BGP side: the speaker's config (sessions), then the advertisements to hold. */
  advertiser: {
    configure(plan: NodePlan): Promise<unknown>;
    advertise(ads: readonly Advertisement[]): Promise<unknown>;
  };
  /** After every planned pass, with the plan and the failures. */
  report?(plan: NodePlan, failures: readonly Error[]): void;
  logger: Logger;
}

export class NotSyncedError extends Error {
  constructor() {
    super('cluster state not yet listed; waiting for the first full list');
    this.name = 'NotSyncedError';
  }
}

export class NodeReconciler {
  private last: NodePlan | undefined;
  /** Prefixes whose data plane was programmed and which we asked BGP to announce. */
  private announced = new Set<string>();
  constructor(private readonly d: NodePassDeps) {}

  get lastPlan(): NodePlan | undefined {
    return this.last;
  }

  readonly pass = async (reason: string): Promise<PassResult> => {
    const failures: Error[] = [];
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        failures.push(Object.assign(e, { step: name }));
      }
    };
    let obs: NodeObservation | undefined;
    await step('observe', async () => (obs = await this.d.observe()));
    // Before the first full list, doing nothing keeps whatever the node already serves.
    if (!obs) return { failures: failures.length ? failures : [new NotSyncedError()] };
    const plan = this.d.plan(obs);
    this.last = plan;
    // The speaker's config (and so its sessions) goes alongside the data plane: it announces
    // nothing by itself. Program the node before announcing, so traffic that arrives finds its
    // service. If the node could not be programmed, announce nothing new (withdrawals still go
    // out): a VIP must never attract traffic this node does not serve.
    await Promise.all([step('dataplane', () => this.d.dataplane.sync(plan.virtualServers, plan.dataplane)), step('bgp-config', () => this.d.advertiser.configure(plan))]);
    const programmed = !failures.some((f) => (f as Error & { step?: string }).step === 'dataplane');
    const ads = programmed ? plan.advertisements : plan.advertisements.filter((a) => this.announced.has(a.prefix));
    const before = failures.length;
    await step('bgp', () => this.d.advertiser.advertise(ads));
    if (failures.length === before) this.announced = new Set(ads.map((a) => a.prefix));
    this.d.report?.(plan, failures);
    this.d.logger.debug({ reason, virtualServers: plan.virtualServers.length, advertisements: plan.advertisements.length, failures: failures.length }, 'node pass');
    return { failures };
  };
}
