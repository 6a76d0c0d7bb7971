/** Prometheus metrics of one agent, in a registry of its own (no global default registry). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly passDuration = new Histogram({
    name: 'bgpvs_reconcile_pass_seconds',
    help: 'Duration of reconcile passes, by reconciler and outcome',
    labelNames: ['reconciler', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly bgpSessionChanges = new Counter({
    name: 'bgpvs_bgp_session_changes_total',
    help: 'BGP session state changes, by peer and new state',
    labelNames: ['peer', 'state'] as const,
    registers: [this.registry],
  });
  readonly bgpSessionUp = new Gauge({
    name: 'bgpvs_bgp_session_up',
    help: '1 when the BGP session to the peer is established',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly bfdRepairs = new Counter({
    name: 'bgpvs_bfd_repairs_total',
    help: 'Peers re-created in gobgpd: BFD peer session down (sessionDown), reset loop (resetLoop) or BFD not up (bfdNotUp), by peer and reason',
    labelNames: ['peer', 'reason'] as const,
    registers: [this.registry],
  });
  readonly advertisedPrefixes = new Gauge({
    name: 'bgpvs_advertised_prefixes',
    help: 'Prefixes this node advertises',
    registers: [this.registry],
  });
  readonly virtualServers = new Gauge({
    name: 'bgpvs_virtual_servers',
    help: 'Virtual servers programmed in the data plane, by data plane',
    labelNames: ['dataplane'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'bgpvs_' });
  }
}
