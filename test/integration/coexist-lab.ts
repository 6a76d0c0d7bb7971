/**
 * Lab for CNI coexistence: router namespace `r` (FRR, AS 64512, 10.0.0.1) and node namespace
 * `n0` (node address 10.0.0.11, second address 10.0.0.21 for bgpvs) where a BIRD plays the
 * CNI's speaker as Calico runs it: eBGP to the router from the node address, announcing the
 * node's pod CIDR. gobgpd runs in n0 as bgpvs's speaker, reached over a socat gRPC bridge.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab } from '../../src/rig/netns.js';
import { FrrRouter, type FrrNeighbor } from '../../src/rig/frr-router.js';
import { gobgpProtoDir, toolPath } from '../../src/rig/paths.js';
import { GobgpClient } from '../../src/bgp/gobgp-client.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { GobgpdSupervisor } from '../../src/bgp/supervisor.js';
import type { SpeakerConfig } from '../../src/bgp/config.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { processAlive } from '../../src/util/process.js';
import { silentLogger } from '../../src/observability/logger.js';

export const ROUTER = '10.0.0.1';
export const NODE = '10.0.0.11';
export const NODE_ALT = '10.0.0.21';
export const POD_CIDR = '10.244.1.0/24';
export const VIP = '10.100.0.7/32';
export const CNI_ASN = 65001;
export const ROUTER_ASN = 64512;

/** The CNI speaker's bird.conf. `bgpvsPeer`: also accept bgpvs over iBGP and pass its VIPs upstream. */
export function cniBirdConfig(opts: { logFile: string; bgpvsPeer?: { address: string; vipRange: string } }): string {
  const l = [
    `log "${opts.logFile}" all;`,
    `router id ${NODE};`,
    'protocol device { scan time 10; }',
    // Calico installs the pod routes itself; here a blackhole stands for the node's block.
    `protocol static pods { ipv4; route ${POD_CIDR} blackhole; }`,
    'protocol direct { ipv4; interface "eth0"; }',
    'protocol kernel { ipv4 { import none; export none; }; }',
    'protocol bgp upstream {',
    `  local ${NODE} as ${CNI_ASN};`,
    `  neighbor ${ROUTER} as ${ROUTER_ASN};`,
    '  connect delay time 1; connect retry time 1;',
    // next hop self: routes learnt from bgpvs go out with the node address as next hop.
    '  ipv4 { import none; export where proto = "pods" || proto = "bgpvs"; next hop self; };',
    '}',
  ];
  if (opts.bgpvsPeer) {
    l.push(
      'protocol bgp bgpvs {',
      `  local ${NODE} as ${CNI_ASN};`,
      `  neighbor ${opts.bgpvsPeer.address} as ${CNI_ASN};`,
      '  passive on;',
      // Both ends are addresses of this node: BIRD refuses a "direct" neighbor that is a local
      // address, and a multihop session has no such check. bgpvs's next hop (its own address)
      // resolves recursively through the node's connected route (protocol direct below).
      '  multihop;',
      `  ipv4 { import where net ~ [ ${opts.bgpvsPeer.vipRange}{32,32} ]; export none; };`,
      '}',
    );
  }
  return l.join('\n') + '\n';
}

export class CoexistLab {
  private cleanups: (() => Promise<void> | void)[] = [];
  frr!: FrrRouter;
  birdPid: number | undefined;
  birdSocket = '';
  speaker?: GobgpSpeaker;

  private constructor(
    readonly lab: NetLab,
    readonly dir: string,
  ) {}

  static async create(tag: string, routerNeighbors: readonly FrrNeighbor[]): Promise<CoexistLab> {
    const lab = await NetLab.create(tag);
    const c = new CoexistLab(lab, mkdtempSync(join(tmpdir(), `bgpvs-${tag}-`)));
    await lab.addNs('r', { forwarding: true });
    await lab.addNs('n0', { forwarding: true });
    await lab.link('n0', 'eth0', 'r', 'eth0');
    await lab.addr('r', 'eth0', `${ROUTER}/24`);
    await lab.addr('n0', 'eth0', `${NODE}/24`);
    await lab.addr('n0', 'eth0', `${NODE_ALT}/24`);
    c.frr = await FrrRouter.start({ lab, ns: 'r', config: { asn: ROUTER_ASN, routerId: ROUTER, neighbors: routerNeighbors } });
    c.cleanups.push(() => c.frr.stop());
    return c;
  }

  async startCniBird(conf: string): Promise<void> {
    const file = join(this.dir, 'bird.conf');
    const pidFile = join(this.dir, 'bird.pid');
    this.birdSocket = join(this.dir, 'bird.ctl');
    writeFileSync(file, conf);
    await this.lab.exec('n0', ['bird', '-c', file, '-s', this.birdSocket, '-P', pidFile]);
    this.birdPid = await waitFor('bird pid', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    const pid = this.birdPid;
    this.cleanups.push(async () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 60 && processAlive(pid); i++) await sleep(50);
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
  }

  async startGobgpd(cfg: SpeakerConfig): Promise<GobgpSpeaker> {
    const sock = join(this.dir, 'grpc.sock');
    const socat = spawnDaemon(['socat', `UNIX-LISTEN:${sock},fork,unlink-early`, 'TCP:127.0.0.1:50051'], { netns: this.lab.ns('n0') });
    socat.catch(() => undefined);
    this.cleanups.push(() => {
      if (socat.pid !== undefined) process.kill(socat.pid, 'SIGTERM');
    });
    await waitFor('grpc bridge', () => (existsSync(sock) ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
    const client = new GobgpClient({ target: `unix:${sock}`, protoDir: gobgpProtoDir() });
    const speaker = new GobgpSpeaker({ client, logger: silentLogger(), config: cfg });
    const sup = new GobgpdSupervisor({
      speaker,
      client,
      logger: silentLogger(),
      gobgpd: { mode: 'child', binary: toolPath('gobgpd'), grpcPort: 50051, netns: this.lab.ns('n0'), target: `unix:${sock}`, logFile: join(this.dir, 'gobgpd.log') },
    });
    this.cleanups.push(() => sup.kill());
    await sup.start();
    this.speaker = speaker;
    return speaker;
  }

  async waitEstablished(addresses: readonly string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(`router sessions ${addresses.join(', ')} Established`, async () => {
      const peers = await this.frr.bgpSummary();
      return addresses.every((a) => peers.find((p) => p.address === a)?.state === 'Established') ? true : undefined;
    }, { timeoutMs, intervalMs: 200 });
  }

  /** The router's kernel route for `prefix`: its gateways, once present. */
  async routerGateways(prefix: string, timeoutMs = 30_000): Promise<string[]> {
    return waitFor(`${prefix} in the router FIB`, async () => {
      const r = await this.frr.kernelRoute(prefix);
      return r ? r.nexthops.map((n) => n.gateway ?? '') : undefined;
    }, { timeoutMs, intervalMs: 200 });
  }

  /** Established/dropped counters per router session, to compare before and after a watch. */
  async sessionCounters(): Promise<Map<string, { state: string; established: number; dropped: number }>> {
    return new Map((await this.frr.bgpSummary()).map((p) => [p.address, { state: p.state, established: p.connectionsEstablished ?? 0, dropped: p.connectionsDropped ?? 0 }]));
  }

  /** BIRD's view of one of its BGP protocols: state and when it last changed (`show protocols NAME`). */
  async birdProtocol(name: string): Promise<{ state: string; since: string }> {
    const out = (await run(['birdc', '-s', this.birdSocket, 'show', 'protocols', name])).stdout;
    const row = out.split('\n').find((l) => l.startsWith(`${name} `))?.trim().split(/\s+/) ?? [];
    return { since: row[4] ?? '', state: row.slice(5).join(' ') };
  }

  async destroy(): Promise<void> {
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
