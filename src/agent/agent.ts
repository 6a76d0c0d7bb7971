/**
 * The node agent: one informer set (shared with the IP allocation controller) triggers the
 * node pass (src/agent/node-reconciler.ts):
 *
 *   informers ──trigger──▶ ReconcileLoop ──▶ observe (snapshot + peer Secrets)
 *     ─▶ plan (pure, node-plan.ts) ─▶ data plane (nft/IPVS) ─▶ gobgpd (config + paths) ─▶ report
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
import { GobgpdSupervisor, spawnGobgpd, type PeerStatus } from '../bgp/supervisor.js';
import type { ResultPromise } from 'execa';
import type { SpeakerConfig } from '../bgp/config.js';
import type { DataPlane } from '../dataplane/types.js';
import { ClusterWatch, type WatchKindName } from '../k8s/informers.js';
import { PeerSecrets, apiSecretSource } from '../k8s/secrets.js';
import type { NodeDesiredState } from '../model/types.js';
import { IPPOOL_PLURAL } from '../model/ip-pool.js';
import { BGPPEER_PLURAL } from '../model/bgp-peer.js';
import { gobgpProtoDir, toolPath } from '../paths.js';
import { HttpEndpoints } from '../observability/http.js';
import { AgentMetrics } from '../observability/metrics.js';
import { Heartbeats } from '../reconcile/health.js';
import { ReconcileLoop } from '../reconcile/loop.js';
import { BgpvsError } from '../errors.js';
import { clip } from '../util/text.js';
import { checkCoexistence, discoverCniResources, readListeners } from '../coexist/findings.js';
import type { Findings } from '../coexist/detect.js';
import { CalicoServiceIpsWriter } from '../coexist/calico-delegate.js';
import { NodeReconciler } from './node-reconciler.js';
import { NodePlanner, peerSources, type NodeObservation, type NodePlan } from './node-plan.js';

/** The kinds whose changes can change this node's plan (Namespaces only matter to IPAM). */
export const NODE_PASS_KINDS: readonly WatchKindName[] = ['Service', 'EndpointSlice', 'Node', IPPOOL_PLURAL, BGPPEER_PLURAL];

export interface AgentDeps {
  config: Readonly<Config>;
  logger: Logger;
  /** The data plane for this node (nft or IPVS), chosen by the caller. */
  dataplane: Pick<DataPlane, 'sync' | 'name'>;
  kubeConfig?: KubeConfig;
  /**
   * The one informer set of this agent (shared with the IP allocation controller); started
   * and stopped by the agent. Default: a new one on the kubeconfig.
   */
  informers?: ClusterWatch;
}

export class Agent {
  readonly metrics = new AgentMetrics();
  readonly informers: ClusterWatch;
  private readonly log: Logger;
  private readonly loop: ReconcileLoop;
  private readonly reconciler: NodeReconciler;
  private readonly planner: NodePlanner;
  private readonly secrets: PeerSecrets;
  private supervisor: GobgpdSupervisor | undefined;
  private speaker: GobgpSpeaker | undefined;
  private readonly kc: KubeConfig;
  private readonly http: HttpEndpoints;
  private readonly healthHttp: HttpEndpoints | undefined;
  private readonly health = new Heartbeats(['node'], 10 * 60_000);
  private readonly nodeAddress: string;
  /** The speaker config's key as last applied. */
  private speakerKey: string | undefined;
  /** The problems last logged (pools, peers, annotations), so each is logged once. */
  private problemsKey = '[]';
  /** delegate mode, when allowed and Calico is found: writes the pool CIDRs into its BGPConfiguration. */
  private calicoWriter: CalicoServiceIpsWriter | undefined;
  /** gobgpd's client and child, made at start so that they are ready for the first pass. */
  private early: { client: GobgpClient; child: ResultPromise | undefined } | undefined;

  constructor(private readonly d: AgentDeps) {
    const cfg = d.config;
    this.log = d.logger;
    if (!cfg.nodeAddress) throw new BgpvsError('node address unknown: set --node-address (the DaemonSet passes status.hostIP)');
    this.nodeAddress = cfg.nodeAddress;
    this.kc = d.kubeConfig ?? loadKubeConfig(cfg.kubeconfig);
    this.informers = d.informers ?? new ClusterWatch(this.kc, this.log.child({ component: 'watch' }));
    this.informers.subscribe(NODE_PASS_KINDS, (kind) => this.loop.trigger(kind));
    this.planner = new NodePlanner(cfg, this.nodeAddress);
    this.secrets = new PeerSecrets({ source: apiSecretSource(this.kc), logger: this.log, namespace: cfg.secretNamespace });
    this.reconciler = new NodeReconciler({
      observe: () => this.observe(),
      plan: (obs) => this.planner.plan(obs),
      dataplane: d.dataplane,
      advertiser:
        cfg.bgp.coexistence === 'delegate'
          ? { configure: (plan) => this.delegateAdvertising(plan), advertise: async () => undefined }
          : { configure: (plan) => this.configureSpeaker(plan.speaker), advertise: (ads) => this.requireSpeaker().setAdvertisements(ads) },
      report: (plan) => this.report(plan),
      logger: this.log.child({ component: 'node-reconciler' }),
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
    if (cfg.health) this.healthHttp = new HttpEndpoints({ registry: this.metrics.registry, health: this.health, host: cfg.health.host, port: cfg.health.port, healthOnly: true });
  }

  /** Observe: the informer caches as one snapshot, and the Secrets its peers refer to. */
  private async observe(): Promise<NodeObservation | undefined> {
    const snapshot = this.informers.snapshot();
    if (!snapshot) return undefined;
    const secrets = await this.secrets.read(peerSources(this.d.config, snapshot).secretRefs);
    return { snapshot, secrets };
  }

  /** Report: metrics, and the plan's problems logged once each time they change. */
  private report(plan: NodePlan): void {
    this.metrics.advertisedPrefixes.set(plan.advertisements.length);
    this.metrics.virtualServers.set({ dataplane: this.d.dataplane.name }, plan.virtualServers.length);
    const key = JSON.stringify(plan.problems);
    if (key === this.problemsKey) return;
    this.problemsKey = key;
    for (const why of plan.problems) this.log.error({ node: this.d.config.nodeName }, why);
  }

  /**
   * The speaker step of a pass (beside the data plane; it announces nothing): gobgpd is
   * started with the first plan's speaker config, and reconfigured when a later plan's differs.
   */
  private async configureSpeaker(speaker: NodePlan['speaker']): Promise<void> {
    if (speaker.key === this.speakerKey && this.supervisor) return;
    if (!this.supervisor) await this.startSpeaker(speaker.config);
    else await this.speaker!.reconfigure(speaker.config);
    const c = speaker.config;
    this.log.info({ asn: c.asn, routerId: c.routerId, peers: c.peers.map((p) => p.address), exportCidrs: c.exportCidrs }, 'BGP speaker configured');
    this.speakerKey = speaker.key;
  }

  private requireSpeaker(): GobgpSpeaker {
    if (!this.speaker) throw new BgpvsError('BGP speaker not started (see the bgp-config step of this pass)');
    return this.speaker;
  }

  private gobgpdTarget(): string {
    const g = this.d.config.bgp.gobgpd;
    return g.mode === 'child' ? `127.0.0.1:${g.grpcPort}` : `${g.host}:${g.port}`;
  }

  /**
   * At start, before the informers list: the gRPC client (its protos parsed) and the gobgpd
   * child, so that gobgpd is up by the first pass (it does not listen for BGP until StartBgp).
   */
  private prepareBgp(): void {
    const g = this.d.config.bgp.gobgpd;
    const client = new GobgpClient({ target: this.gobgpdTarget(), protoDir: gobgpProtoDir() });
    const child = g.mode === 'child' ? spawnGobgpd({ binary: toolPath('gobgpd'), grpcPort: g.grpcPort }) : undefined;
    this.early = { client, child };
  }

  /** gobgpd (a child, or an external one) with this config; from then on the supervisor keeps it. */
  private async startSpeaker(config: SpeakerConfig): Promise<void> {
    const cfg = this.d.config;
    if (!this.early) this.prepareBgp();
    const { client, child } = this.early!;
    const speaker = new GobgpSpeaker({ client, logger: this.log, config });
    const supervisor = new GobgpdSupervisor({
      speaker,
      client,
      gobgpd: cfg.bgp.gobgpd.mode === 'child' ? { mode: 'child', binary: toolPath('gobgpd'), grpcPort: cfg.bgp.gobgpd.grpcPort, ...(child ? { child } : {}) } : { mode: 'external', target: this.gobgpdTarget() },
      logger: this.log,
      metrics: this.metrics,
      drainMs: cfg.bgp.gracefulShutdownMs,
    });
    try {
      await supervisor.start();
    } catch (err) {
      // kill() ends the child and closes the client: the next pass starts afresh.
      await supervisor.kill().catch(() => undefined);
      this.early = undefined;
      throw err;
    }
    this.speaker = speaker;
    this.supervisor = supervisor;
  }

  async start(): Promise<void> {
    const findings = await this.checkCoexistence();
    const port = await this.http.start();
    this.log.info({ host: this.d.config.metrics.host, port }, 'metrics and health endpoints listening');
    if (this.healthHttp) this.log.info({ host: this.d.config.health?.host, port: await this.healthHttp.start() }, 'health endpoints listening');
    if (this.d.config.bgp.coexistence === 'delegate') {
      // No gobgpd, no session: the CNI's speaker advertises; we allocate and program the data plane.
      if (this.d.config.bgp.allowWriteCniConfig && findings.calicoBgp) this.calicoWriter = new CalicoServiceIpsWriter(this.kc);
      this.log.info({ writesCalicoConfig: !!this.calicoWriter }, 'delegate mode: not running BGP');
    } else {
      this.prepareBgp();
    }
    // The first pass runs once every kind has been listed (until then a pass would refuse);
    // it starts gobgpd with the speaker config it computes.
    await this.informers.start();
    this.loop.start();
    this.log.info({ node: this.d.config.nodeName, address: this.nodeAddress }, 'agent started');
  }

  /**
   * delegate mode's "bgp" step of a pass: the CNI decides what to announce; we only make sure
   * Calico's BGPConfiguration lists the pool CIDRs (re-read every pass, written when one is missing).
   */
  private async delegateAdvertising(plan: NodePlan): Promise<void> {
    if (!this.calicoWriter) return;
    const cidrs = plan.dataplane.poolCidrs;
    if (await this.calicoWriter.ensure(cidrs)) this.log.info({ cidrs }, 'Calico BGPConfiguration default: pool CIDRs written to spec.serviceLoadBalancerIPs');
  }

  /** Before gobgpd starts: refuse (CoexistenceError, the CLI exits 1) a mode that would fight the CNI's BGP speaker. */
  private async checkCoexistence(): Promise<Findings> {
    const cfg = this.d.config;
    const { findings, notes } = await checkCoexistence(
      {
        mode: cfg.bgp.coexistence,
        nodeAddress: this.nodeAddress,
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
    await this.informers.stop().catch((err: unknown) => this.log.warn({ err }, 'stopping watches'));
    await this.supervisor?.stop().catch((err: unknown) => this.log.error({ err }, 'stopping gobgpd'));
    if (!this.supervisor && this.early) {
      // gobgpd was spawned but never configured: nothing to drain.
      this.early.child?.kill('SIGTERM');
      await this.early.child?.catch(() => undefined);
      this.early.client.close();
    }
    await this.http.stop();
    await this.healthHttp?.stop();
    this.log.info('agent stopped');
  }

  /** For tests and status: the last computed desired state and BGP peers. */
  status(): { desired: NodeDesiredState | undefined; peers: PeerStatus[] } {
    return { desired: this.reconciler.lastPlan, peers: this.supervisor?.peers() ?? [] };
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
    // Reasons and notes quote tenants' input: each bounded (the model bounds what it quotes too).
    services: (desired?.decisions ?? []).map((d) =>
      d.reason === undefined && d.notes === undefined ? d : { ...d, ...(d.reason !== undefined ? { reason: clip(d.reason) as typeof d.reason } : {}), ...(d.notes ? { notes: d.notes.map((n) => clip(n)) } : {}) },
    ),
  };
}
