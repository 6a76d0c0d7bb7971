/**
 * Lab for CNI coexistence: router namespace `r` (FRR, AS 64512, 10.0.0.1; or BIRD when a
 * test needs a router that tells sessions apart by port) and node namespace `n0` (node
 * address 10.0.0.11, second address 10.0.0.21 for bgpvs) where a BIRD or an FRR plays the
 * CNI's speaker as Calico runs it: eBGP to the router from the node address, announcing the
 * node's pod CIDR. gobgpd runs in n0 as bgpvs's speaker, reached over a socat gRPC bridge.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab } from './netns.js';
import { FrrRouter, kernelRoutes, type FrrNeighbor } from './frr-router.js';
import { gobgpProtoDir, toolPath } from './paths.js';
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

/**
 * The CNI speaker's bird.conf. `bgpvsPeer`: also accept bgpvs over iBGP and pass its VIPs
 * upstream. `serviceCidrs`: announce these too, as Calico does with the BGPConfiguration's
 * serviceLoadBalancerIPs (delegate mode; the test plays calico-node's config renderer).
 */
export function cniBirdConfig(opts: { logFile: string; bgpvsPeer?: { address: string; vipRange: string }; serviceCidrs?: readonly string[] }): string {
  const l = [
    `log "${opts.logFile}" all;`,
    'debug protocols { states };',
    `router id ${NODE};`,
    'protocol device { scan time 10; }',
    // Calico installs the pod routes itself; here a blackhole stands for the node's block.
    `protocol static pods { ipv4; route ${POD_CIDR} blackhole; }`,
    // Calico announces the service ranges from its own static/kernel routes; kernel export is off here.
    ...(opts.serviceCidrs?.length ? [`protocol static services { ipv4; ${opts.serviceCidrs.map((c) => `route ${c} blackhole;`).join(' ')} }`] : []),
    'protocol direct { ipv4; interface "eth0"; }',
    'protocol kernel { ipv4 { import none; export none; }; }',
    'protocol bgp upstream {',
    `  local ${NODE} as ${CNI_ASN};`,
    `  neighbor ${ROUTER} as ${ROUTER_ASN};`,
    '  connect delay time 1; connect retry time 1;',
    // next hop self: routes learnt from bgpvs go out with the node address as next hop.
    '  ipv4 { import none; export where proto = "pods" || proto = "services" || proto = "bgpvs"; next hop self; };',
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

/**
 * FRR as the node's CNI speaker, via-local-speaker: the lines an operator adds to the node
 * FRR (vtysh `configure terminal`), beside its own eBGP session to the router and its pod
 * CIDR. They differ from BIRD's because bgpvs runs on the same node (all seen with FRR 8.4.4):
 * - FRR refuses a configured neighbor that is one of its own addresses ("Can not configure
 *   the local system as neighbor"), so bgpvs's address is a listen range (dynamic neighbor);
 * - FRR drops a route whose next hop is one of its own addresses ("DENIED due to: martian or
 *   self next-hop"), and bgpvs's next hop (the node address) always is; `bgp
 *   allow-martian-nexthop` lets it through only from FRR 9.0 on. The check runs after the
 *   inbound route-map, so BGPVS-IN sets a next hop FRR resolves that is not its own
 *   (`inboundNextHop`, here the router's address);
 * - `next-hop-self` (even `force`) then leaves that next hop alone towards the router (it is
 *   on the shared subnet: a third-party next hop), so BGPVS-OUT sets the next hop to the
 *   session's own address (`peer-address` in an outbound route-map = the node address);
 * - the inbound next hop is not where the node should send VIP traffic: a table-map keeps
 *   the VIP routes out of the node's FIB (the node serves them itself).
 */
export function frrNodeSpeakerLines(o: { asn: number; bgpvsAddress: string; router: string; vipRange: string; inboundNextHop: string }): string[] {
  return [
    `ip prefix-list BGPVS-VIPS seq 10 permit ${o.vipRange} ge 32`,
    'route-map BGPVS-IN permit 10',
    ' match ip address prefix-list BGPVS-VIPS',
    ` set ip next-hop ${o.inboundNextHop}`,
    'exit',
    'route-map BGPVS-OUT permit 10',
    ' match ip address prefix-list BGPVS-VIPS',
    ' set ip next-hop peer-address',
    'exit',
    'route-map BGPVS-OUT permit 20',
    'exit',
    'route-map BGPVS-FIB deny 10',
    ' match ip address prefix-list BGPVS-VIPS',
    'exit',
    'route-map BGPVS-FIB permit 20',
    'exit',
    `router bgp ${o.asn}`,
    ' neighbor BGPVS peer-group',
    ` neighbor BGPVS remote-as ${o.asn}`,
    ' neighbor BGPVS passive',
    ` bgp listen range ${o.bgpvsAddress}/32 peer-group BGPVS`,
    ' address-family ipv4 unicast',
    '  table-map BGPVS-FIB',
    '  neighbor BGPVS route-map BGPVS-IN in',
    `  neighbor ${o.router} route-map BGPVS-OUT out`,
    ' exit-address-family',
    'exit',
  ];
}

/**
 * A BIRD upstream router that holds two sessions with the same node address, told apart by
 * the router-side port: the CNI's on 179, bgpvs's on `bgpvsPort` (`local ... port N`: BIRD
 * listens there and matches an incoming connection to the protocol by remote address and
 * local port). bgpvs's protocol is passive (bgpvs connects, never listens), and its
 * `neighbor ... port` differs from 179 although BIRD never connects with it: BIRD 2.0.12
 * locks (remote address, remote port, interface) per protocol, so a second protocol for the
 * same address and port would wait Idle for the CNI protocol's lock forever.
 */
export function routerBirdConfig(o: { logFile: string; bgpvsPort: number; bgpvsAsn: number }): string {
  return [
    `log "${o.logFile}" all;`,
    'debug protocols { states };',
    `router id ${ROUTER};`,
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }',
    'protocol bgp cni {',
    `  local ${ROUTER} as ${ROUTER_ASN};`,
    `  neighbor ${NODE} as ${CNI_ASN};`,
    '  connect delay time 1; connect retry time 1;',
    '  ipv4 { import all; export none; };',
    '}',
    'protocol bgp bgpvs {',
    `  local ${ROUTER} port ${o.bgpvsPort} as ${ROUTER_ASN};`,
    `  neighbor ${NODE} port ${o.bgpvsPort} as ${o.bgpvsAsn};`,
    '  passive on;',
    '  ipv4 { import all; export none; };',
    '}',
  ].join('\n') + '\n';
}

/** One BIRD process started by the lab: its control socket and log. */
export interface BirdHandle {
  pid: number;
  socket: string;
  logFile: string;
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

  /** `routerNeighbors`: FRR's on `r`; `null`: no FRR (the test starts its own router). */
  static async create(tag: string, routerNeighbors: readonly FrrNeighbor[] | null): Promise<CoexistLab> {
    const lab = await NetLab.create(tag);
    const c = new CoexistLab(lab, mkdtempSync(join(tmpdir(), `bgpvs-${tag}-`)));
    await lab.addNs('r', { forwarding: true });
    await lab.addNs('n0', { forwarding: true });
    await lab.link('n0', 'eth0', 'r', 'eth0');
    await lab.addr('r', 'eth0', `${ROUTER}/24`);
    await lab.addr('n0', 'eth0', `${NODE}/24`);
    await lab.addr('n0', 'eth0', `${NODE_ALT}/24`);
    if (routerNeighbors) {
      try {
        c.frr = await FrrRouter.start({ lab, ns: 'r', config: { asn: ROUTER_ASN, routerId: ROUTER, neighbors: routerNeighbors } });
      } catch (err) {
        await c.destroy();
        throw err;
      }
      c.cleanups.push(() => c.frr.stop());
    }
    return c;
  }

  async startCniBird(conf: string): Promise<void> {
    const b = await this.startBird('n0', 'bird', conf);
    this.birdPid = b.pid;
    this.birdSocket = b.socket;
  }

  /** Rewrite the CNI BIRD's config and reload it (`birdc configure`), as calico-node's renderer does. */
  async reconfigureCniBird(conf: string): Promise<void> {
    writeFileSync(join(this.dir, 'bird.conf'), conf);
    const out = (await run(['birdc', '-s', this.birdSocket, 'configure'])).stdout;
    if (!/Reconfigur/.test(out)) throw new Error(`birdc configure: ${out}`);
  }

  /** FRR in the node namespace as the CNI's speaker: eBGP to the router from the node address, announcing the pod CIDR. */
  async startCniFrr(extraLines: readonly string[]): Promise<FrrRouter> {
    const frr = await FrrRouter.start({
      lab: this.lab,
      ns: 'n0',
      config: { asn: CNI_ASN, routerId: NODE, hostname: 'node', neighbors: [{ address: ROUTER, asn: ROUTER_ASN }], extraBgpLines: ['address-family ipv4 unicast', ` network ${POD_CIDR}`, 'exit-address-family'] },
    });
    this.cleanups.push(() => frr.stop({ keepDir: !!process.env.COEXIST_KEEP_DIR }));
    const argv = ['vtysh', '--vty_socket', frr.dir, '-c', 'configure terminal', ...extraLines.flatMap((l) => ['-c', l.trim()])];
    const res = await run(argv);
    if (/% |Unknown command|No such command/.test(res.stdout + res.stderr)) throw new Error(`vtysh rejected the node speaker config:\n${res.stdout}${res.stderr}`);
    return frr;
  }

  /** The upstream router as BIRD (for a test that created the lab with no FRR). */
  async startRouterBird(conf: string): Promise<BirdHandle> {
    return this.startBird('r', 'router-bird', conf);
  }

  private async startBird(ns: string, name: string, conf: string): Promise<BirdHandle> {
    const file = join(this.dir, `${name}.conf`);
    const pidFile = join(this.dir, `${name}.pid`);
    const socket = join(this.dir, `${name}.ctl`);
    writeFileSync(file, conf);
    await this.lab.exec(ns, ['bird', '-c', file, '-s', socket, '-P', pidFile]);
    const pid = await waitFor(`${name} pid`, () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    this.cleanups.push(async () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 60 && processAlive(pid); i++) await sleep(50);
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    const logFile = /^log "([^"]+)"/m.exec(conf)?.[1] ?? '';
    return { pid, socket, logFile };
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
      const r = (await kernelRoutes(this.lab, 'r', prefix))[0];
      return r ? r.nexthops.map((n) => n.gateway ?? '') : undefined;
    }, { timeoutMs, intervalMs: 200 });
  }

  /** Established/dropped counters per router session, to compare before and after a watch. */
  async sessionCounters(): Promise<Map<string, { state: string; established: number; dropped: number }>> {
    return new Map((await this.frr.bgpSummary()).map((p) => [p.address, { state: p.state, established: p.connectionsEstablished ?? 0, dropped: p.connectionsDropped ?? 0 }]));
  }

  /** BIRD's view of one of its BGP protocols: state and when it last changed (`show protocols NAME`). */
  async birdProtocol(name: string, socket = this.birdSocket): Promise<{ state: string; since: string }> {
    const out = (await run(['birdc', '-s', socket, 'show', 'protocols', name])).stdout;
    const row = out.split('\n').find((l) => l.startsWith(`${name} `))?.trim().split(/\s+/) ?? [];
    return { since: row[4] ?? '', state: row.slice(5).join(' ') };
  }

  /** How many state changes BIRD logged for protocol `name` (`debug protocols { states }`), to compare before and after a watch. */
  birdStateChanges(logFile: string, name: string): number {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    return text.split('\n').filter((l) => l.includes(`${name}: State changed to`)).length;
  }

  async destroy(): Promise<void> {
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await this.lab.destroy();
    // COEXIST_KEEP_DIR=1 keeps configs and logs (BIRD, gobgpd, agent, API server) to read after a failure.
    if (process.env.COEXIST_KEEP_DIR) console.error(`kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
