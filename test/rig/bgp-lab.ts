/**
 * Harness for the BGP integration tests and bench/bgp.bench.ts: one router namespace (FRR
 * or BIRD) with a bridge, N node namespaces each running a real gobgpd under
 * GobgpdSupervisor with a GobgpSpeaker. Everything lives in a NetLab and a temp dir.
 *
 * gobgpd's gRPC listens on 127.0.0.1:50051 inside each node namespace only (a fresh
 * namespace, so the port is free); this process reaches it through a socat bridge started
 * inside that namespace (unix socket in the temp dir → 127.0.0.1:50051).
 *
 * The routers are the rig's FrrRouter and BirdRouter.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { ResultPromise } from 'execa';
import { NetLab } from './netns.js';
import { FrrRouter, frrSkipReason, kernelRoutes } from './frr-router.js';
import { BirdRouter, birdSkipReason } from './bird-router.js';
import { gateways } from './parsers/ip-route-json.js';
import { gobgpProtoDir, toolPath } from './paths.js';
import { spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { waitFor } from '../../src/util/wait.js';
import { GobgpClient } from '../../src/bgp/gobgp-client.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { GobgpdSupervisor, type BgpMetricsSink, type SessionGuardOptions } from '../../src/bgp/supervisor.js';
import type { BfdConfig, PeerConfig, SpeakerConfig } from '../../src/bgp/config.js';
export { ad } from '../unit/advertisement-fixture.js';

export const ROUTER_IP = '10.0.0.1';
export const ROUTER_ASN = 65000;
export const POOL = '10.100.0.0/16';
export const nodeIp = (i: number) => `10.0.0.${11 + i}`;
export const nodeAsn = (i: number) => 65011 + i;
export const ROUTER_IP6 = 'fd00:0:0:1::1';
export const POOL6 = 'fd00:100::/64';
export const nodeIp6 = (i: number) => `fd00:0:0:1::${(0x11 + i).toString(16)}`;

/** Why an integration test cannot run here, or undefined. */
export function skipReason(router: 'frr' | 'bird' = 'frr'): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, FRR, gobgpd)';
  try {
    toolPath('gobgpd');
    gobgpProtoDir();
  } catch (err) {
    return (err as Error).message;
  }
  if (router === 'frr') {
    const why = frrSkipReason();
    if (why) return why;
  } else {
    const why = birdSkipReason();
    if (why) return why;
  }
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'socat missing: run scripts/setup.sh';
  }
  return undefined;
}


export interface BgpNode {
  index: number;
  name: string;
  address: string;
  asn: number;
  client: GobgpClient;
  speaker: GobgpSpeaker;
  supervisor: GobgpdSupervisor;
  /** The speaker config the node started with. */
  config: SpeakerConfig;
}

export interface LabOptions {
  tag: string;
  nodes: number;
  router: 'frr' | 'bird';
  /** BFD on the node side (gobgpd native) and the router side (FRR bfdd / BIRD). */
  bfd?: BfdConfig;
  holdTimeSeconds?: number;
  exportCidrs?: string[];
  /** Weighted ECMP: the link-bandwidth hook each node's speaker uses. */
  linkBandwidth?: SpeakerConfig['linkBandwidth'];
  /** Dual stack: IPv6 addresses on the links, IPv6 next hops on the nodes, IPv6 unicast on FRR. */
  ipv6?: boolean;
  drainMs?: number;
  logger?: Logger;
  /** Lines appended inside FRR's `router bgp` (e.g. a `network` the router originates). */
  routerExtraBgpLines?: readonly string[];
  /** Per-node changes to the speaker config (importEnabled, routerId, more peers, ...). */
  speaker?: (i: number) => Partial<SpeakerConfig>;
  /**
   * `child` (default): the supervisor spawns gobgpd. `external`: the lab runs gobgpd as a
   * sidecar would (its own process, gRPC on a unix socket) and the supervisor only dials it.
   */
  gobgpd?: 'child' | 'external';
  /** Where node i's supervisor counts BGP session changes (the agent passes AgentMetrics). */
  metrics?: (i: number) => BgpMetricsSink;
  /** The supervisors' session guard (default: the agent's). */
  sessionGuard?: SessionGuardOptions;
  /** Graceful restart on the nodes' peers (gobgpd) and the router's neighbours. */
  gracefulRestart?: { restartTimeSeconds: number; helperOnly?: boolean };
}

export class BgpLab {
  readonly nodes: BgpNode[] = [];
  frr: FrrRouter | undefined;
  bird: BirdRouter | undefined;
  private constructor(
    readonly lab: NetLab,
    readonly dir: string,
    readonly opts: LabOptions,
  ) {}

  static async create(opts: LabOptions): Promise<BgpLab> {
    const lab = await NetLab.create(opts.tag);
    const dir = mkdtempSync(join(tmpdir(), `bgpvs-${opts.tag}-`));
    const l = new BgpLab(lab, dir, opts);
    try {
      await l.topology();
      if (opts.router === 'frr') await l.startFrr();
      else await l.startBird();
      for (let i = 0; i < opts.nodes; i++) await l.startNode(i);
    } catch (err) {
      await l.destroy();
      throw err;
    }
    return l;
  }

  private async topology(): Promise<void> {
    const { lab } = this;
    await lab.addNs('r', { forwarding: true });
    const ports: string[] = [];
    for (let i = 0; i < this.opts.nodes; i++) {
      await lab.addNs(`n${i}`, { forwarding: true });
      await lab.link(`n${i}`, 'eth0', 'r', `p${i}`);
      ports.push(`p${i}`);
      await lab.addr(`n${i}`, 'eth0', `${nodeIp(i)}/24`);
      if (this.opts.ipv6) await lab.addr(`n${i}`, 'eth0', `${nodeIp6(i)}/64`);
    }
    await lab.bridge('r', 'br0', ports);
    await lab.addr('r', 'br0', `${ROUTER_IP}/24`);
    if (this.opts.ipv6) await lab.addr('r', 'br0', `${ROUTER_IP6}/64`);
  }

  /** Run argv in the router namespace. */
  r(argv: readonly string[]) {
    return this.lab.exec('r', argv);
  }

  // ---- routers -------------------------------------------------------------------------------

  private async startFrr(): Promise<void> {
    const bfd = this.opts.bfd;
    const hold = this.opts.holdTimeSeconds;
    this.frr = await FrrRouter.start({
      lab: this.lab,
      ns: 'r',
      config: {
        asn: ROUTER_ASN,
        routerId: ROUTER_IP,
        hostname: 'r',
        multipath: { relax: true, maxPaths: 16 },
        ...(bfd ? { bfdProfile: { name: 'fast', receiveMs: bfd.minRxMs, transmitMs: bfd.minTxMs, multiplier: bfd.multiplier } } : {}),
        // IPv6 unicast over the IPv4 sessions (MP-BGP), with ECMP like IPv4.
        extraBgpLines: [
          ...(this.opts.ipv6
            ? ['address-family ipv6 unicast', ...this.range().map((i) => ` neighbor ${nodeIp(i)} activate`), ' maximum-paths 16', 'exit-address-family']
            : []),
          ...(this.opts.routerExtraBgpLines ?? []),
        ],
        neighbors: this.range().map((i) => ({
          address: nodeIp(i),
          asn: 'external' as const,
          ...(bfd ? { bfd: true } : {}),
          ...(hold ? { timers: { keepaliveSeconds: Math.max(1, Math.floor(hold / 3)), holdSeconds: hold } } : {}),
        })),
      },
    });
  }

  /** vtysh against this lab's FRR. */
  async vtysh(cmd: string): Promise<string> {
    if (!this.frr) throw new Error('no FRR in this lab');
    return (await this.frr.vtysh(cmd)) ?? '';
  }

  async vtyshJson<T>(cmd: string): Promise<T> {
    return JSON.parse(await this.vtysh(cmd)) as T;
  }

  private async startBird(): Promise<void> {
    const bfd = this.opts.bfd;
    const hold = this.opts.holdTimeSeconds;
    this.bird = await BirdRouter.start({
      lab: this.lab,
      ns: 'r',
      config: {
        asn: ROUTER_ASN,
        routerId: ROUTER_IP,
        mergePaths: true,
        ...(bfd ? { bfd: { minRxMs: bfd.minRxMs, minTxMs: bfd.minTxMs, multiplier: bfd.multiplier } } : {}),
        neighbors: this.range().map((i) => ({
          address: nodeIp(i),
          asn: nodeAsn(i),
          localAddress: ROUTER_IP,
          ...(bfd ? { bfd: true } : {}),
          ...(hold ? { timers: { holdSeconds: hold, keepaliveSeconds: Math.max(1, Math.floor(hold / 3)) } } : {}),
        })),
      },
    });
  }

  /** Stop BIRD (SIGTERM), wait `downMs`, start it again with the same config. */
  async restartBird(downMs: number): Promise<void> {
    if (!this.bird) throw new Error('no BIRD in this lab');
    const config = this.bird.config;
    await this.bird.stop();
    await new Promise((r) => setTimeout(r, downMs));
    this.bird = await BirdRouter.start({ lab: this.lab, ns: 'r', config });
  }

  async birdc(cmd: string): Promise<string> {
    if (!this.bird) throw new Error('no BIRD in this lab');
    return (await this.bird.birdc(cmd)) ?? '';
  }

  // ---- nodes ---------------------------------------------------------------------------------

  private range(): number[] {
    return Array.from({ length: this.opts.nodes }, (_, i) => i);
  }

  /** The sidecar-style gobgpd of node i (external mode): its own process, API on a unix socket. */
  private sidecars = new Map<number, ResultPromise>();

  sidecarSocket(i: number): string {
    return join(this.dir, `n${i}.api.sock`);
  }

  /** Start (or, after `killSidecar`, restart) node i's external gobgpd, as its container runtime would. */
  async startSidecar(i: number): Promise<number> {
    const sock = this.sidecarSocket(i);
    rmSync(sock, { force: true });
    const child = spawnDaemon([toolPath('gobgpd'), '--api-hosts', `unix://${sock}`, '--pprof-disable', '--log-plain'], {
      netns: this.lab.ns(`n${i}`),
      logFile: join(this.dir, `n${i}.sidecar.log`),
    });
    child.catch(() => undefined);
    this.sidecars.set(i, child);
    await waitFor(`n${i} sidecar gobgpd socket`, () => (existsSync(sock) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    return child.pid!;
  }

  /** kill -9 node i's external gobgpd; resolves once it is gone. */
  async killSidecar(i: number): Promise<void> {
    const child = this.sidecars.get(i);
    if (!child) throw new Error(`n${i} has no sidecar gobgpd`);
    child.kill('SIGKILL');
    await child;
  }

  private async startNode(i: number): Promise<void> {
    const name = `n${i}`;
    const ns = this.lab.ns(name);
    const external = this.opts.gobgpd === 'external';
    let target: string;
    if (external) {
      await this.startSidecar(i);
      target = `unix://${this.sidecarSocket(i)}`;
    } else {
      const sock = join(this.dir, `${name}.grpc.sock`);
      // The bridge lives (and dies) with the namespace: NetLab kills what runs inside it.
      spawnDaemon(['socat', `UNIX-LISTEN:${sock},fork,unlink-early`, 'TCP:127.0.0.1:50051'], { netns: ns });
      await waitFor(`${name} grpc bridge`, () => (existsSync(sock) ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
      target = `unix:${sock}`;
    }
    const logger = (this.opts.logger ?? silentLogger()).child({ node: name });
    const client = new GobgpClient({ target, protoDir: gobgpProtoDir(), callTimeoutMs: 60_000 });
    const peer: PeerConfig = {
      address: ROUTER_IP,
      asn: ROUTER_ASN,
      connectRetrySeconds: 1,
      idleHoldAfterResetSeconds: 1,
      ...(this.opts.holdTimeSeconds ? { holdTimeSeconds: this.opts.holdTimeSeconds, keepaliveSeconds: Math.max(1, Math.floor(this.opts.holdTimeSeconds / 3)) } : {}),
      ...(this.opts.bfd ? { bfd: this.opts.bfd } : {}),
      ...(this.opts.gracefulRestart ? { gracefulRestart: this.opts.gracefulRestart } : {}),
    };
    const config: SpeakerConfig = {
      asn: nodeAsn(i),
      nextHops: { IPv4: nodeIp(i), ...(this.opts.ipv6 ? { IPv6: nodeIp6(i) } : {}) },
      peers: [peer],
      exportCidrs: this.opts.exportCidrs ?? [POOL, ...(this.opts.ipv6 ? [POOL6] : [])],
      ...(this.opts.linkBandwidth ? { linkBandwidth: this.opts.linkBandwidth } : {}),
      ...this.opts.speaker?.(i),
    };
    const speaker = new GobgpSpeaker({ client, logger, config });
    const supervisor = new GobgpdSupervisor({
      speaker,
      client,
      logger,
      gobgpd: external
        ? { mode: 'external', target }
        : { mode: 'child', binary: toolPath('gobgpd'), grpcPort: 50051, netns: ns, logFile: join(this.dir, `${name}.gobgpd.log`), target },
      drainMs: this.opts.drainMs ?? 0,
      backoff: { initialMs: 100, maxMs: 2000 },
      ...(this.opts.metrics ? { metrics: this.opts.metrics(i) } : {}),
      ...(this.opts.sessionGuard !== undefined ? { sessionGuard: this.opts.sessionGuard } : {}),
    });
    await supervisor.start();
    this.nodes.push({ index: i, name, address: nodeIp(i), asn: nodeAsn(i), client, speaker, supervisor, config });
  }

  /** Wait until every node's session to the router is established. */
  async waitEstablished(timeoutMs = 60_000): Promise<void> {
    for (const n of this.nodes) {
      await waitFor(
        `${n.name} session established`,
        async () => {
          const peers = await n.client.listPeer();
          return peers.every((p) => p.state?.session_state === 'SESSION_STATE_ESTABLISHED') && peers.length ? true : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    }
  }

  /**
   * Until the FRR router has `peers` BFD sessions up that are bound to an interface. FRR 8.4
   * first registers a neighbour's BFD session without its interface and replaces it (new
   * discriminator) once BGP is up, which resets that first BGP session; only the session with
   * the interface stays (README, known limits). Sessions may be re-establishing after this.
   */
  async waitBfdUp(peers: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${peers} BFD sessions up on the router, bound to their interface`,
      async () => {
        const ps = await this.vtyshJson<{ peer: string; status: string; interface?: string }[]>('show bfd peers json');
        return ps.filter((p) => p.status === 'up' && p.interface).length === peers ? true : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** The router's kernel FIB next hops for `prefix` (sorted), [] when absent. */
  async fibNexthops(prefix: string): Promise<string[]> {
    const routes = await kernelRoutes(this.lab, 'r', prefix);
    return routes.flatMap((r) => gateways(r)).sort();
  }

  async waitNexthops(prefix: string, want: number, timeoutMs = 60_000, intervalMs = 50): Promise<string[]> {
    return waitFor(
      `${want} next hops for ${prefix} in the router FIB`,
      async () => {
        const nh = await this.fibNexthops(prefix);
        return nh.length === want ? nh : undefined;
      },
      { timeoutMs, intervalMs },
    );
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) await n.supervisor.kill().catch(() => undefined);
    for (const c of this.sidecars.values()) c.kill('SIGKILL');
    await this.frr?.stop();
    await this.bird?.stop();
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}



