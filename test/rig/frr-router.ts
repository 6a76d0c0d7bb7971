/**
 * FRR (Debian's frr 8.4: zebra, bgpd, bfdd) as an upstream router inside a NetLab namespace,
 * for integration tests and the lab.
 *
 * Each instance keeps everything in its own temp dir: config files, pid files, the zebra
 * socket (`-z`), the vty sockets (`--vty_socket`) and logs, so several routers run at once in
 * different namespaces without touching /var/run/frr or the host's own FRR. bfdd reads its
 * own file because zebra and bgpd stop parsing at the `bfd` node they do not know.
 *
 * The config is rendered by `renderFrrConfig` (pure); state is read back through vtysh's
 * JSON output and `ip -j route`, parsed by the tested parsers in ./parsers/.
 */
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as defaultRun, type Runner } from '../../src/exec/run.js';
import { BgpvsError, ConfigError } from '../../src/errors.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { processAlive } from '../../src/util/process.js';
import type { NetLab } from './netns.js';
import {
  parseFrrBfdPeers,
  parseFrrBgpRoute,
  parseFrrBgpSummary,
  parseFrrIpRoute,
  parseFrrUpdateLog,
  type FrrBfdPeer,
  type FrrUpdateEvent,
  type FrrBgpPath,
  type FrrBgpPeer,
  type FrrRibRoute,
} from './parsers/frr-json.js';
import { parseIpRouteJson, type KernelRoute } from './parsers/ip-route-json.js';

export const FRR_DIR = '/usr/lib/frr';

export interface FrrTimers {
  keepaliveSeconds: number;
  holdSeconds: number;
  /** Connect-retry timer (FRR's `timers connect`). */
  connectSeconds?: number;
}

export interface FrrNeighbor {
  address: string;
  /** A number, or FRR's `external` / `internal` (any AS of that kind). */
  asn: number | 'external' | 'internal';
  /** Enable BFD on this session with the config's `bfdProfile` (or defaults). */
  bfd?: boolean;
  port?: number;
  password?: string;
  timers?: FrrTimers;
  /** Source address / interface for the session (`update-source`). */
  updateSource?: string;
  ebgpMultihop?: number;
}

export interface FrrBfdProfile {
  name: string;
  receiveMs: number;
  transmitMs: number;
  multiplier: number;
}

export interface FrrConfig {
  asn: number;
  routerId: string;
  neighbors: readonly FrrNeighbor[];
  multipath?: { relax: boolean; maxPaths: number; maxPathsIbgp?: number };
  bfdProfile?: FrrBfdProfile;
  /**
   * `bgp bestpath bandwidth ...`: FRR weights ECMP nexthops by the link-bandwidth extended
   * community by default; 'ignore' turns that off, the others say what to do with paths
   * that lack it.
   */
  bandwidth?: 'ignore' | 'skip-missing' | 'default-weight-for-missing';
  /** Connect-retry timer applied to every neighbor without its own timers (default 1 s). */
  connectRetrySeconds?: number;
  hostname?: string;
  /**
   * Log every UPDATE bgpd receives (`debug bgp updates in`) so tests can read the order of
   * announcements and withdrawals with `receivedUpdates()` (e.g. GRACEFUL_SHUTDOWN before
   * the withdrawal), which polling could miss.
   */
  debugUpdates?: boolean;
  /** Extra lines appended inside `router bgp` (escape hatch for one-off tests). */
  extraBgpLines?: readonly string[];
}

export interface RenderedFrrConfig {
  /** For zebra and bgpd. */
  frr: string;
  /** For bfdd. */
  bfdd: string;
}

/** Render the zebra/bgpd config and the separate bfdd config. Pure. */
export function renderFrrConfig(cfg: FrrConfig, opts: { logFile?: string } = {}): RenderedFrrConfig {
  const lines = ['frr defaults traditional', `hostname ${cfg.hostname ?? 'router'}`];
  if (opts.logFile) lines.push(`log file ${opts.logFile}${cfg.debugUpdates ? ' debugging' : ''}`);
  if (cfg.debugUpdates) lines.push('log timestamp precision 3', 'debug bgp updates in');
  lines.push('!', `router bgp ${cfg.asn}`, ` bgp router-id ${cfg.routerId}`, ' no bgp ebgp-requires-policy', ' no bgp network import-check');
  if (cfg.multipath?.relax) lines.push(' bgp bestpath as-path multipath-relax');
  if (cfg.bandwidth) lines.push(` bgp bestpath bandwidth ${cfg.bandwidth}`);
  const connect = cfg.connectRetrySeconds ?? 1;
  for (const n of cfg.neighbors) {
    const a = n.address;
    lines.push(` neighbor ${a} remote-as ${n.asn}`);
    if (n.port !== undefined) lines.push(` neighbor ${a} port ${n.port}`);
    if (n.password !== undefined) {
      if (!/^\S+$/.test(n.password)) throw new ConfigError(`neighbors[${a}].password`, 'must be non-empty without whitespace (FRR config word)');
      lines.push(` neighbor ${a} password ${n.password}`);
    }
    if (n.updateSource !== undefined) lines.push(` neighbor ${a} update-source ${n.updateSource}`);
    if (n.ebgpMultihop !== undefined) lines.push(` neighbor ${a} ebgp-multihop ${n.ebgpMultihop}`);
    if (n.timers) lines.push(` neighbor ${a} timers ${n.timers.keepaliveSeconds} ${n.timers.holdSeconds}`);
    lines.push(` neighbor ${a} timers connect ${n.timers?.connectSeconds ?? connect}`);
    if (n.bfd) lines.push(cfg.bfdProfile ? ` neighbor ${a} bfd profile ${cfg.bfdProfile.name}` : ` neighbor ${a} bfd`);
  }
  for (const l of cfg.extraBgpLines ?? []) lines.push(` ${l}`);
  lines.push(' address-family ipv4 unicast');
  if (cfg.multipath) {
    lines.push(`  maximum-paths ${cfg.multipath.maxPaths}`);
    if (cfg.multipath.maxPathsIbgp !== undefined) lines.push(`  maximum-paths ibgp ${cfg.multipath.maxPathsIbgp}`);
  }
  lines.push(' exit-address-family', 'exit', '!');
  const p = cfg.bfdProfile;
  const bfdd = p
    ? ['bfd', ` profile ${p.name}`, `  receive-interval ${p.receiveMs}`, `  transmit-interval ${p.transmitMs}`, `  detect-multiplier ${p.multiplier}`, ' exit', 'exit', '!']
    : ['!'];
  return { frr: lines.join('\n') + '\n', bfdd: bfdd.join('\n') + '\n' };
}

/**
 * Feed a rendered config to the real daemons' dry run (`-C`) and return the lines they
 * reject (FRR exits 0 even then, so the output is what tells). Needs FRR installed.
 */
export async function checkFrrConfig(rendered: RenderedFrrConfig, run: Runner = defaultRun): Promise<string[]> {
  const d = mkdtempSync(join(tmpdir(), 'bgpvs-frrcheck-'));
  chmodSync(d, 0o755); // the daemons drop to user frr before reading the config
  try {
    writeFileSync(join(d, 'frr.conf'), rendered.frr);
    writeFileSync(join(d, 'bfdd.conf'), rendered.bfdd);
    const errors: string[] = [];
    // zebra alone rejects every `router bgp` line in a dry run, so bgpd checks frr.conf
    for (const [daemon, conf] of [['bgpd', 'frr.conf'], ['bfdd', 'bfdd.conf']] as const) {
      const res = await run([`${FRR_DIR}/${daemon}`, '-C', '-f', join(d, conf), '-i', join(d, `${daemon}.pid`), '-z', join(d, 'zserv.api'), '--vty_socket', d], {
        allowFailure: true,
        timeoutMs: 10_000,
      });
      const bad = `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => /No such command|Unknown command|Command incomplete|returned Incomplete|Ambiguous command|configuration file|Error on config/i.test(l));
      if (res.exitCode !== 0) bad.push(`${daemon} -C exited ${res.exitCode}`);
      errors.push(...bad.map((l) => `${daemon}: ${l.trim()}`));
    }
    return errors;
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

export interface FrrRouterOptions {
  lab: NetLab;
  /** Lab-local namespace name the router runs in. */
  ns: string;
  config: FrrConfig;
  run?: Runner;
  /** Start bfdd even when no neighbor asks for BFD (default: only when one does). */
  bfdd?: boolean;
}

type Daemon = 'zebra' | 'bfdd' | 'bgpd';

function frrIds(): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const m = /^frr:[^:]*:(\d+):(\d+):/m.exec(passwd);
  if (!m) throw new BgpvsError('user frr missing: install Debian frr (scripts/setup.sh)');
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Why FrrRouter cannot run here, or undefined. */
export function frrSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, FRR daemons)';
  for (const b of [`${FRR_DIR}/zebra`, `${FRR_DIR}/bgpd`, `${FRR_DIR}/bfdd`, '/usr/bin/vtysh']) {
    if (!existsSync(b)) return `${b} missing: run scripts/setup.sh`;
  }
  return undefined;
}

export class FrrRouter {
  /** The instance's temp dir: configs, pid files, sockets, logs. */
  readonly dir: string;
  private readonly run: Runner;
  private readonly pids = new Map<Daemon, number>();
  private stopped = false;

  private constructor(
    private readonly opts: FrrRouterOptions,
    dir: string,
  ) {
    this.dir = dir;
    this.run = opts.run ?? defaultRun;
  }

  /** Render the config, start zebra (+ bfdd) + bgpd in the namespace and wait for vtysh. */
  static async start(opts: FrrRouterOptions): Promise<FrrRouter> {
    const dir = mkdtempSync(join(tmpdir(), 'bgpvs-frr-'));
    const r = new FrrRouter(opts, dir);
    try {
      await r.boot();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  get config(): FrrConfig {
    return this.opts.config;
  }

  /** PIDs of the daemons this instance started. */
  get daemonPids(): ReadonlyMap<Daemon, number> {
    return this.pids;
  }

  private async boot(): Promise<void> {
    const d = this.dir;
    const { uid, gid } = frrIds();
    chmodSync(d, 0o755);
    chownSync(d, uid, gid); // the daemons drop to user frr and create their sockets here
    const rendered = renderFrrConfig(this.opts.config, { logFile: join(d, 'frr.log') });
    writeFileSync(join(d, 'frr.conf'), rendered.frr);
    writeFileSync(join(d, 'bfdd.conf'), rendered.bfdd);
    const wantBfd = this.opts.bfdd ?? this.opts.config.neighbors.some((n) => n.bfd);
    await this.startDaemon('zebra', 'frr.conf');
    await waitFor('zebra zserv socket', () => (existsSync(join(d, 'zserv.api')) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    if (wantBfd) await this.startDaemon('bfdd', 'bfdd.conf');
    await this.startDaemon('bgpd', 'frr.conf');
    await waitFor('bgpd answering vtysh', async () => ((await this.vtysh('show bgp summary json', { allowFailure: true })) !== undefined ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  }

  private async startDaemon(name: Daemon, conf: string): Promise<void> {
    const d = this.dir;
    const pidFile = join(d, `${name}.pid`);
    await this.opts.lab.exec(this.opts.ns, [
      `${FRR_DIR}/${name}`,
      '-d',
      '-f', join(d, conf),
      '-i', pidFile,
      '-z', join(d, 'zserv.api'),
      '--vty_socket', d,
      '-u', 'frr',
      '-g', 'frr',
      '--log', `file:${join(d, `${name}.log`)}`,
    ]);
    const pid = await waitFor(`${name} pid file`, () => {
      if (!existsSync(pidFile)) return undefined;
      const n = Number(readFileSync(pidFile, 'utf8').trim());
      return n > 0 ? n : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    this.pids.set(name, pid);
  }

  /**
   * Run one vtysh command against this instance. Throws CommandError on failure, or with
   * `allowFailure` returns undefined.
   */
  async vtysh(cmd: string, opts: { allowFailure?: boolean } = {}): Promise<string | undefined> {
    const res = await this.run(['vtysh', '--vty_socket', this.dir, '-c', cmd], { timeoutMs: 10_000, allowFailure: opts.allowFailure });
    if (res.exitCode !== 0) return undefined;
    return res.stdout;
  }

  private async vtyshJson(cmd: string): Promise<unknown> {
    const out = await this.vtysh(cmd);
    try {
      return JSON.parse(out ?? '{}') as unknown;
    } catch (err) {
      throw new BgpvsError(`vtysh -c '${cmd}': not JSON: ${(out ?? '').slice(0, 200)}`, { cause: err });
    }
  }

  /** `show bgp ipv4 unicast summary json` → peers with their session state. */
  async bgpSummary(): Promise<FrrBgpPeer[]> {
    return parseFrrBgpSummary(await this.vtyshJson('show bgp ipv4 unicast summary json'));
  }

  /** `show bgp ipv4 unicast PREFIX json` → the BGP paths (communities, bandwidth, best/multipath). */
  async bgpPaths(prefix: string): Promise<FrrBgpPath[]> {
    return parseFrrBgpRoute(await this.vtyshJson(`show bgp ipv4 unicast ${prefix} json`));
  }

  /** `show ip route PREFIX json` → zebra's RIB entries (nexthops with weights). */
  async routes(prefix: string): Promise<FrrRibRoute[]> {
    const fam = prefix.includes(':') ? 'ipv6' : 'ip';
    return parseFrrIpRoute(await this.vtyshJson(`show ${fam} route ${prefix} json`));
  }

  /** `show bfd peers json` → BFD sessions (needs bfdd: a neighbor with `bfd`, or `bfdd: true`). */
  async bfdPeers(): Promise<FrrBfdPeer[]> {
    return parseFrrBfdPeers(await this.vtyshJson('show bfd peers json'));
  }

  /**
   * UPDATEs bgpd received, in order, from its log (needs `debugUpdates: true`); optionally
   * only those about `prefix`.
   */
  receivedUpdates(prefix?: string): FrrUpdateEvent[] {
    if (!this.opts.config.debugUpdates) throw new BgpvsError('receivedUpdates() needs config.debugUpdates');
    const log = join(this.dir, 'frr.log'); // the config's log target: ms timestamps

    const events = parseFrrUpdateLog(existsSync(log) ? readFileSync(log, 'utf8') : '');
    return prefix ? events.filter((e) => e.prefix === prefix) : events;
  }

  /** The kernel FIB of the router's namespace for `prefix` (`ip -j route show`). */
  async kernelRoute(prefix: string): Promise<KernelRoute | undefined> {
    return (await kernelRoutes(this.opts.lab, this.opts.ns, prefix))[0];
  }

  /**
   * Kill one daemon this instance started (SIGKILL by default: a crash) and start it again
   * with the same config after `downMs`; the others keep running (a bgpd-only restart).
   */
  async restartDaemon(name: Daemon, opts: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    const pid = this.pids.get(name);
    if (pid === undefined) throw new BgpvsError(`FRR ${name} was not started here`);
    signal(pid, opts.signal ?? 'SIGKILL');
    const deadline = Date.now() + 3000;
    while (processAlive(pid) && Date.now() < deadline) await sleep(20);
    if (processAlive(pid)) signal(pid, 'SIGKILL');
    rmSync(join(this.dir, `${name}.pid`), { force: true });
    await sleep(opts.downMs ?? 0);
    await this.startDaemon(name, name === 'bfdd' ? 'bfdd.conf' : 'frr.conf');
  }

  /**
   * The whole router restarts: kill every daemon this instance started (SIGKILL by default),
   * wait `downMs`, start them again in boot order (zebra, bfdd, bgpd) with the same config.
   */
  async restartAll(opts: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    const names = [...this.pids.keys()];
    for (const n of names) signal(this.pids.get(n)!, opts.signal ?? 'SIGKILL');
    const deadline = Date.now() + 3000;
    while (names.some((n) => processAlive(this.pids.get(n)!)) && Date.now() < deadline) await sleep(20);
    for (const n of names) {
      if (processAlive(this.pids.get(n)!)) signal(this.pids.get(n)!, 'SIGKILL');
      rmSync(join(this.dir, `${n}.pid`), { force: true });
    }
    rmSync(join(this.dir, 'zserv.api'), { force: true }); // boot waits for zebra's new socket
    await sleep(opts.downMs ?? 0);
    await this.boot();
  }

  /** SIGTERM the daemons this instance started (bgpd first), SIGKILL what is left after 3 s. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const order: Daemon[] = ['bgpd', 'bfdd', 'zebra'];
    const pids = order.map((n) => this.pids.get(n)).filter((p): p is number => p !== undefined);
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while (pids.some(processAlive) && Date.now() < deadline) await sleep(50);
    for (const pid of pids) if (processAlive(pid)) signal(pid, 'SIGKILL');
    if (!opts.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Kernel routes for `prefix` in a lab namespace. Shared by the FRR and BIRD harnesses. */
export async function kernelRoutes(lab: NetLab, ns: string, prefix: string): Promise<KernelRoute[]> {
  const fam = prefix.includes(':') ? ['-6'] : [];
  const res = await lab.exec(ns, ['ip', ...fam, '-j', 'route', 'show', prefix]);
  return parseIpRouteJson(res.stdout);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
