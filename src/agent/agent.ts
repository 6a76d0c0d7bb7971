/**
 * `bgpvs agent`: wiring only. config → logger → clients → reconcilers → signals.
 *
 *   watches (Services, EndpointSlices, Nodes) ──trigger──▶ ReconcileLoop ──▶ NodeReconciler
 *        snapshot ─▶ ModelBuilder (pure) ─▶ data plane (nft/IPVS) + GoBGP paths
 *
 * On SIGTERM: stop reacting, announce GRACEFUL_SHUTDOWN (RFC 8326) for the drain time,
 * withdraw, stop gobgpd. The data plane is left as it is, so a restarted agent finds it
 * serving and changes only the difference; nothing is flushed on start.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { GobgpClient } from '../bgp/gobgp-client.js';
import { GobgpSpeaker } from '../bgp/speaker.js';
import { GobgpdSupervisor, type PeerStatus } from '../bgp/supervisor.js';
import type { NodeDesiredState } from '../model/types.js';
import { ModelBuilder, type ClusterSnapshot } from '../desired/builder.js';
import { modelConfig, type PoolAttributes } from '../desired/config.js';
import { gobgpProtoDir, toolPath } from '../paths.js';
import { HttpEndpoints } from '../observability/http.js';
import { AgentMetrics } from '../observability/metrics.js';
import { Heartbeats } from '../reconcile/health.js';
import { ReconcileLoop } from '../reconcile/loop.js';
import { NodeReconciler, type DataPlanePort } from './node-reconciler.js';
import { ClusterWatch } from '../k8s/informers.js';
import { mergePeers, readPeerSecrets, resolveSpeakerConfig, speakerConfigFor, type PeerSource } from './peers.js';
import { modelPools } from './pools.js';
import { parsePools } from '../ipam/pools.js';
import type { SpeakerConfig } from '../bgp/config.js';
import { BgpvsError } from '../errors.js';
import { checkCoexistence, discoverCniResources, readListeners } from '../coexist/findings.js';
import type { Findings } from '../coexist/detect.js';
import { CalicoServiceIpsWriter } from '../coexist/calico-delegate.js';
import { nodeAddressesOf } from '../dataplane/nft/cluster-dsr.js';

export interface AgentDeps {
  config: Readonly<Config>;
  logger: Logger;
  /** The data plane for this node (nft or IPVS), chosen by the caller. */
  dataplane: DataPlanePort;
  /** Pools (CIDRs + BGP attributes): from IPPool objects, or static for the lab. */
  pools: readonly PoolAttributes[];
  kubeConfig?: KubeConfig;
}

export class Agent {
  readonly metrics = new AgentMetrics();
  private readonly log: Logger;
  private readonly watch: ClusterWatch;
  private readonly loop: ReconcileLoop;
  private readonly reconciler: NodeReconciler;
  private supervisor: GobgpdSupervisor | undefined;
  private speaker: GobgpSpeaker | undefined;
  private readonly kc: KubeConfig;
  private readonly http: HttpEndpoints;
  private readonly health = new Heartbeats(['node'], 10 * 60_000);
  private nodeAddress: string | undefined;
  /** The model for the current IP pools; rebuilt when the IPPool objects change. */
  private builder: ModelBuilder;
  private poolsKey: string;
  /** What the speaker config was last computed from (peers, Node, pools). */
  private speakerKey: string | undefined;
  /** delegate mode, when allowed and Calico is found: writes the pool CIDRs into its BGPConfiguration. */
  private calicoWriter: CalicoServiceIpsWriter | undefined;

  constructor(private readonly d: AgentDeps) {
    const cfg = d.config;
    this.log = d.logger;
    const kc = d.kubeConfig ?? loadKubeConfig(cfg.kubeconfig);
    this.watch = new ClusterWatch(kc, (kind) => this.loop.trigger(kind), this.log.child({ component: 'watch' }));

    this.nodeAddress = cfg.nodeAddress;
    if (!this.nodeAddress) throw new BgpvsError('node address unknown: set --node-address (the DaemonSet passes status.hostIP)');
    this.kc = kc;
    this.pools = d.pools;
    this.poolsKey = JSON.stringify(d.pools);
    this.builder = this.makeBuilder(d.pools);
    this.reconciler = new NodeReconciler({
      source: this.watch,
      model: {
        build: (snap: ClusterSnapshot) => {
          this.observePools();
          this.builder.sync(snap);
          return this.builder.build();
        },
      },
      dataplane: d.dataplane,
      advertiser: { setAdvertisements: (ads) => (cfg.bgp.coexistence === 'delegate' ? this.delegateAdvertising() : this.advertise(ads)) },
      logger: this.log.child({ component: 'node-reconciler' }),
      onDesired: (desired) => {
        this.metrics.advertisedPrefixes.set(desired.advertisements.length);
      },
    });
    this.loop = new ReconcileLoop({
      name: 'node',
      pass: this.reconciler.pass,
      logger: this.log.child({ component: 'loop' }),
      resyncMs: cfg.resyncMs,
      onPass: (outcome, ms) => {
        this.health.beat('node', outcome);
        this.metrics.passDuration.observe({ reconciler: 'node', outcome }, ms / 1000);
      },
    });
    this.http = new HttpEndpoints({ registry: this.metrics.registry, health: this.health, host: cfg.metrics.host, port: cfg.metrics.port, status: () => this.statusReport() });
  }

  /** The current IP pools (CIDRs and BGP attributes), from the IPPool objects once listed. */
  private pools: readonly PoolAttributes[];

  private makeBuilder(pools: readonly PoolAttributes[]): ModelBuilder {
    const cfg = this.d.config;
    return new ModelBuilder(
      modelConfig({
        loadBalancerClass: cfg.service.loadBalancerClass,
        handleClasslessServices: cfg.service.handleClasslessServices,
        advertiseClusterIPs: cfg.service.advertiseClusterIPs,
        advertiseExternalIPs: cfg.service.advertiseExternalIPs,
        defaultScheduler: cfg.service.defaultScheduler,
        defaultForwarding: cfg.service.defaultForwarding,
        pools,
      }),
      cfg.nodeName,
    );
  }

  /** IPPool objects changed (added, edited, deleted): the model starts over with the new pools. */
  private observePools(): void {
    if (!this.watch.pools.isSynced) return;
    const { pools, invalid } = parsePools(this.watch.pools.items());
    const next = modelPools(pools);
    const key = JSON.stringify(next);
    if (key === this.poolsKey) return;
    for (const p of invalid) this.log.error({ pool: p.name, reason: p.reason }, 'IP pool ignored');
    this.pools = next;
    this.poolsKey = key;
    this.builder = this.makeBuilder(next);
    this.log.info({ pools: pools.map((p) => p.name) }, 'IP pools changed');
  }

  /** The current IP pools' CIDRs (BGP export policy, IPVS VIP ownership, Calico delegate). */
  poolCidrs(): string[] {
    return this.pools.flatMap((p) => p.cidrs);
  }

  /** Every node's addresses (InternalIP), from the Node watch; empty before its first list. */
  nodeAddresses(): Map<string, string[]> {
    return this.watch.nodes.isSynced ? nodeAddressesOf(this.watch.nodes.items()) : new Map();
  }

  /** The bgp step of a pass: the speaker follows the BGPPeer objects, the Node and the pools, then the paths. */
  private async advertise(ads: Parameters<GobgpSpeaker['setAdvertisements']>[0]): Promise<unknown> {
    const speaker = this.requireSpeaker();
    const next = await this.nextSpeakerConfig();
    if (next) {
      await speaker.reconfigure(next.config);
      this.speakerKey = next.key;
      this.log.info({ asn: next.config.asn, peers: next.config.peers.map((p) => p.address), exportCidrs: next.config.exportCidrs }, 'BGP speaker reconfigured');
    }
    return speaker.setAdvertisements(ads);
  }

  /** A new speaker config when its inputs changed since the last one applied; else undefined. */
  private async nextSpeakerConfig(): Promise<{ config: SpeakerConfig; key: string } | undefined> {
    const cfg = this.d.config;
    if (!this.watch.peers.isSynced || !this.watch.nodes.isSynced) return undefined;
    const node = this.watch.nodes.items().find((n) => n.metadata?.name === cfg.nodeName);
    const { peers, problems } = mergePeers(cfg.bgp.peers, this.watch.peers.items());
    const poolCidrs = this.poolCidrs();
    const key = JSON.stringify([peers, node?.metadata?.labels, node?.metadata?.annotations?.['bgpvs.io/asn'], node?.metadata?.annotations?.['bgpvs.io/router-id'], poolCidrs]);
    if (key === this.speakerKey) return undefined;
    for (const p of problems) this.log.error({ bgpPeer: p.name, reason: p.reason }, 'BGPPeer ignored');
    const secrets = await readPeerSecrets(this.kc, peers as readonly PeerSource[], this.log);
    const r = speakerConfigFor(cfg, this.nodeAddress!, node, peers, secrets, poolCidrs);
    for (const why of r.problems) this.log.error({ node: cfg.nodeName }, why);
    return { config: r.config, key };
  }

  private requireSpeaker(): GobgpSpeaker {
    if (!this.speaker) throw new BgpvsError('BGP speaker not started');
    return this.speaker;
  }

  /**
   * The speaker for this node: its Node object says which peers apply (node selectors) and may
   * override ASN and router-id; peer passwords come from Secrets.
   */
  private async buildSpeaker(): Promise<void> {
    const cfg = this.d.config;
    const speakerCfg = await resolveSpeakerConfig(this.kc, cfg, this.nodeAddress!, this.poolCidrs(), this.log);
    const target = cfg.bgp.gobgpd.mode === 'child' ? `127.0.0.1:${cfg.bgp.gobgpd.grpcPort}` : `${cfg.bgp.gobgpd.host}:${cfg.bgp.gobgpd.port}`;
    const client = new GobgpClient({ target, protoDir: gobgpProtoDir() });
    this.speaker = new GobgpSpeaker({ client, logger: this.log, config: speakerCfg });
    this.supervisor = new GobgpdSupervisor({
      speaker: this.speaker,
      client,
      gobgpd: cfg.bgp.gobgpd.mode === 'child' ? { mode: 'child', binary: toolPath('gobgpd'), grpcPort: cfg.bgp.gobgpd.grpcPort } : { mode: 'external', target },
      logger: this.log,
      metrics: this.metrics,
      drainMs: cfg.bgp.gracefulShutdownMs,
    });
  }

  async start(): Promise<void> {
    const findings = await this.checkCoexistence();
    const port = await this.http.start();
    this.log.info({ port }, 'metrics and health endpoints listening');
    if (this.d.config.bgp.coexistence === 'delegate') {
      // No gobgpd, no session: the CNI's speaker advertises; we allocate and program the data plane.
      if (this.d.config.bgp.allowWriteCniConfig && findings.calicoBgp) this.calicoWriter = new CalicoServiceIpsWriter(this.kc);
      this.log.info({ writesCalicoConfig: !!this.calicoWriter }, 'delegate mode: not running BGP');
    } else {
      await this.buildSpeaker();
      await this.supervisor!.start();
    }
    // The first pass runs once every kind has been listed (until then a pass would refuse).
    await this.watch.start();
    this.loop.start();
    this.log.info({ node: this.d.config.nodeName, address: this.nodeAddress }, 'agent started');
  }

  /**
   * delegate mode's "bgp" step of a pass: the CNI decides what to announce; we only make sure
   * Calico's BGPConfiguration lists the pool CIDRs (re-read every pass, written when one is missing).
   */
  private async delegateAdvertising(): Promise<void> {
    if (!this.calicoWriter) return;
    const cidrs = this.poolCidrs();
    if (await this.calicoWriter.ensure(cidrs)) this.log.info({ cidrs }, 'Calico BGPConfiguration default: pool CIDRs written to spec.serviceLoadBalancerIPs');
  }

  /** Before gobgpd starts: refuse (CoexistenceError, the CLI exits 1) a mode that would fight the CNI's BGP speaker. */
  private async checkCoexistence(): Promise<Findings> {
    const cfg = this.d.config;
    const { findings, notes } = await checkCoexistence(
      {
        mode: cfg.bgp.coexistence,
        nodeAddress: this.nodeAddress!,
        peers: cfg.bgp.peers.map((p) => ({ address: p.address, port: p.port, ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}) })),
        allowWriteCniConfig: cfg.bgp.allowWriteCniConfig,
      },
      { listeners: () => readListeners(179), served: () => discoverCniResources(this.kc) },
    );
    this.log.info({ mode: cfg.bgp.coexistence, findings, notes }, 'coexistence check passed');
    return findings;
  }

  /** Graceful stop: no more passes; drain and withdraw BGP; leave the data plane serving. */
  async stop(): Promise<void> {
    this.loop.stop();
    // A pass still running could re-announce after the drain below: let it finish first.
    await this.loop.idle();
    await this.watch.stop().catch((err: unknown) => this.log.warn({ err }, 'stopping watches'));
    await this.supervisor?.stop().catch((err: unknown) => this.log.error({ err }, 'stopping gobgpd'));
    await this.http.stop();
    this.log.info('agent stopped');
  }

  /** For tests and status: the last computed desired state and BGP peers. */
  status(): { desired: NodeDesiredState | undefined; peers: PeerStatus[] } {
    return { desired: this.reconciler.lastDesired, peers: this.supervisor?.peers() ?? [] };
  }

  /** What GET /status answers. */
  statusReport(): AgentStatusReport {
    const { desired, peers } = this.status();
    return statusReport(this.d.config.nodeName, desired, peers);
  }
}

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return kc;
}

/** GET /status: what an operator asks a node first — are my sessions up, what do I announce, why not my Service. */
export interface AgentStatusReport {
  node: string;
  /** False until the first reconcile pass computed the node's desired state. */
  synced: boolean;
  peers: { address: string; asn: number; state: string; bfd?: string; since: string }[];
  advertised: string[];
  services: NodeDesiredState['decisions'];
}

export function statusReport(node: string, desired: NodeDesiredState | undefined, peers: readonly PeerStatus[]): AgentStatusReport {
  return {
    node,
    synced: desired !== undefined,
    peers: peers.map((p) => ({ address: p.address, asn: p.asn, state: p.state, ...(p.bfd ? { bfd: p.bfd } : {}), since: new Date(p.since).toISOString() })),
    advertised: (desired?.advertisements ?? []).map((a) => a.prefix).sort(),
    services: desired?.decisions ?? [],
  };
}
