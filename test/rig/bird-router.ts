/**
 * BIRD 2 (Debian's bird2 2.0.12) as an upstream router inside a NetLab namespace, for
 * integration tests and the lab.
 *
 * Each instance has its own temp dir with the rendered config, control socket (`-s`), pid
 * file (`-P`) and log, so several run at once in different namespaces without touching the
 * host's own BIRD. The kernel protocol exports only BGP routes, with `merge paths on` so
 * equal routes from several nodes become one ECMP route. State is read back through
 * `birdc -s SOCK` and parsed by the tested parsers in ./parsers/bird-text.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as defaultRun, type Runner } from '../../src/exec/run.js';
import { CommandError, ConfigError } from '../../src/errors.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import type { NetLab } from './netns.js';
import { kernelRoutes } from './frr-router.js';
import { processAlive } from '../../src/util/process.js';
import type { KernelRoute } from './parsers/ip-route-json.js';
import { parseBirdBfdSessions, parseBirdProtocols, parseBirdRoutes, type BirdBfdSession, type BirdProtocol, type BirdRoute } from './parsers/bird-text.js';

export interface BirdNeighbor {
  address: string;
  asn: number;
  /** Protocol name in BIRD (default `peer_<address with _>`). */
  name?: string;
  bfd?: boolean;
  port?: number;
  password?: string;
  /** Hold / keepalive timers in seconds. */
  timers?: { holdSeconds: number; keepaliveSeconds: number };
  /** Connect-retry time (default: the config's `connectRetrySeconds`, else 1 s). */
  connectRetrySeconds?: number;
  /** Local address of the session (`local ADDR as ASN`). */
  localAddress?: string;
  multihop?: number;
  /** Graceful restart (RFC 4724) on this session: `graceful restart on` with this restart time. */
  gracefulRestart?: { restartTimeSeconds: number };
}

export interface BirdBfd {
  /** Interface pattern (default "*"). */
  interface?: string;
  minRxMs: number;
  minTxMs: number;
  multiplier: number;
}

export interface BirdConfig {
  asn: number;
  routerId: string;
  neighbors: readonly BirdNeighbor[];
  /** `merge paths on [limit N]` in the kernel protocol: ECMP into the FIB (default on). */
  mergePaths?: boolean | { limit: number };
  /** BFD protocol settings; neighbors with `bfd: true` use it. */
  bfd?: BirdBfd;
  connectRetrySeconds?: number;
}

export function birdProtocolName(n: BirdNeighbor): string {
  return n.name ?? `peer_${n.address.replace(/[.:]/g, '_')}`;
}

/** BIRD strings have no escapes: refuse what cannot be written. */
function quote(s: string, field: string): string {
  if (/["\n\\]/.test(s)) throw new ConfigError(field, 'must not contain ", \\ or a newline (BIRD strings have no escapes)');
  return `"${s}"`;
}

/** Render bird.conf. Pure. */
export function renderBirdConfig(cfg: BirdConfig, opts: { logFile?: string } = {}): string {
  const l: string[] = [];
  if (opts.logFile) l.push(`log ${quote(opts.logFile, 'logFile')} all;`);
  l.push(`router id ${cfg.routerId};`, '', 'protocol device { scan time 10; }', '');
  const merge = cfg.mergePaths ?? true;
  l.push(
    'protocol kernel kern4 {',
    '  ipv4 { import none; export where source = RTS_BGP; };',
    ...(merge === false ? [] : [merge === true ? '  merge paths on;' : `  merge paths on limit ${merge.limit};`]),
    '}',
    '',
  );
  const needBfd = cfg.neighbors.some((n) => n.bfd);
  if (needBfd || cfg.bfd) {
    const b = cfg.bfd ?? { minRxMs: 300, minTxMs: 300, multiplier: 3 };
    l.push(
      'protocol bfd bfd1 {',
      `  interface ${quote(b.interface ?? '*', 'bfd.interface')} { min rx interval ${b.minRxMs} ms; min tx interval ${b.minTxMs} ms; multiplier ${b.multiplier}; };`,
      '}',
      '',
    );
  }
  for (const n of cfg.neighbors) {
    l.push(`protocol bgp ${birdProtocolName(n)} {`);
    l.push(`  local ${n.localAddress ? `${n.localAddress} ` : ''}as ${cfg.asn};`);
    l.push(`  neighbor ${n.address}${n.port !== undefined ? ` port ${n.port}` : ''} as ${n.asn};`);
    const retry = n.connectRetrySeconds ?? cfg.connectRetrySeconds ?? 1;
    l.push(`  connect delay time ${retry};`, `  connect retry time ${retry};`);
    if (n.timers) l.push(`  hold time ${n.timers.holdSeconds};`, `  keepalive time ${n.timers.keepaliveSeconds};`);
    if (n.password !== undefined) l.push(`  password ${quote(n.password, `neighbors[${n.address}].password`)};`);
    if (n.multihop !== undefined) l.push(`  multihop ${n.multihop};`);
    if (n.bfd) l.push('  bfd on;');
    if (n.gracefulRestart) l.push('  graceful restart on;', `  graceful restart time ${n.gracefulRestart.restartTimeSeconds};`);
    l.push('  ipv4 { import all; export none; };', '}', '');
  }
  return l.join('\n');
}

/** Parse-only run of the real bird (`bird -p`): undefined when accepted, else its message. */
export async function checkBirdConfig(text: string, run: Runner = defaultRun): Promise<string | undefined> {
  const d = mkdtempSync(join(tmpdir(), 'bgpvs-birdcheck-'));
  try {
    writeFileSync(join(d, 'bird.conf'), text);
    const res = await run(['bird', '-p', '-c', join(d, 'bird.conf')], { allowFailure: true, timeoutMs: 10_000 });
    return res.exitCode === 0 ? undefined : (res.stderr || res.stdout).trim();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

export interface BirdRouterOptions {
  lab: NetLab;
  ns: string;
  config: BirdConfig;
  run?: Runner;
}

/** Why BirdRouter cannot run here, or undefined. */
export function birdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, BIRD)';
  for (const b of ['/usr/sbin/bird', '/usr/sbin/birdc']) if (!existsSync(b)) return `${b} missing: run scripts/setup.sh`;
  return undefined;
}

export class BirdRouter {
  readonly dir: string;
  private readonly run: Runner;
  private birdPid: number | undefined;
  private stopped = false;

  private constructor(
    private readonly opts: BirdRouterOptions,
    dir: string,
  ) {
    this.dir = dir;
    this.run = opts.run ?? defaultRun;
  }

  static async start(opts: BirdRouterOptions): Promise<BirdRouter> {
    const r = new BirdRouter(opts, mkdtempSync(join(tmpdir(), 'bgpvs-bird-')));
    try {
      await r.boot();
    } catch (err) {
      await r.stop({ keepDir: true });
      throw err;
    }
    return r;
  }

  get config(): BirdConfig {
    return this.opts.config;
  }

  get socket(): string {
    return join(this.dir, 'bird.ctl');
  }

  /** PID of the bird daemon this instance started. */
  get pid(): number | undefined {
    return this.birdPid;
  }

  private async boot(): Promise<void> {
    const conf = join(this.dir, 'bird.conf');
    const pidFile = join(this.dir, 'bird.pid');
    writeFileSync(conf, renderBirdConfig(this.opts.config, { logFile: join(this.dir, 'bird.log') }));
    // bird forks into the background once its config is loaded (a bad config fails here)
    await this.opts.lab.exec(this.opts.ns, ['bird', '-c', conf, '-s', this.socket, '-P', pidFile]);
    this.birdPid = await waitFor('bird pid file', () => {
      if (!existsSync(pidFile)) return undefined;
      const n = Number(readFileSync(pidFile, 'utf8').trim());
      return n > 0 ? n : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    await waitFor('birdc answering', async () => ((await this.birdc('show status', { allowFailure: true })) !== undefined ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  }

  /**
   * Run one birdc command on this instance's control socket; its stdout (with BIRD's
   * banner). birdc exits 1 when BIRD answers with an error: CommandError, or undefined with
   * `allowFailure`.
   */
  async birdc(cmd: string, opts: { allowFailure?: boolean } = {}): Promise<string | undefined> {
    const res = await this.birdcRaw(cmd);
    if (res.exitCode === 0) return res.stdout;
    if (opts.allowFailure) return undefined;
    throw new CommandError(['birdc', '-s', this.socket, cmd], res.exitCode, res.stdout + res.stderr);
  }

  private birdcRaw(cmd: string) {
    return this.run(['birdc', '-s', this.socket, ...cmd.split(' ').filter(Boolean)], { timeoutMs: 10_000, allowFailure: true });
  }

  /** `show protocols all` → protocols, with BGP session details for BGP ones. */
  async protocols(): Promise<BirdProtocol[]> {
    return parseBirdProtocols((await this.birdc('show protocols all')) ?? '');
  }

  /** BGP protocols only (one per neighbor). */
  async bgpSummary(): Promise<BirdProtocol[]> {
    return (await this.protocols()).filter((p) => p.proto === 'BGP');
  }

  /** `show route PREFIX all` (or every route) → routes with their attributes; [] when absent. */
  async routes(prefix?: string): Promise<BirdRoute[]> {
    const cmd = prefix ? `show route ${prefix} all` : 'show route all';
    const res = await this.birdcRaw(cmd);
    if (res.exitCode !== 0) {
      if (/Network not found/.test(res.stdout)) return [];
      throw new CommandError(['birdc', '-s', this.socket, cmd], res.exitCode, res.stdout + res.stderr);
    }
    return parseBirdRoutes(res.stdout);
  }

  /** `show bfd sessions` → BFD sessions (needs `bfd` in the config or a neighbor with `bfd`). */
  async bfdSessions(): Promise<BirdBfdSession[]> {
    return parseBirdBfdSessions((await this.birdc('show bfd sessions')) ?? '');
  }

  async kernelRoute(prefix: string): Promise<KernelRoute | undefined> {
    return (await kernelRoutes(this.opts.lab, this.opts.ns, prefix))[0];
  }

  /** The bird process restarts: SIGTERM (SIGKILL with `signal`), `downMs`, started again with the same config. */
  async restart(opts: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    const pid = this.birdPid;
    if (pid !== undefined) {
      try {
        process.kill(pid, opts.signal ?? 'SIGTERM');
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 3000;
      while (processAlive(pid) && Date.now() < deadline) await sleep(20);
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(join(this.dir, 'bird.pid'), { force: true });
    await sleep(opts.downMs ?? 0);
    await this.boot();
  }

  /** SIGTERM the bird this instance started, SIGKILL after 3 s. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const pid = this.birdPid;
    if (pid !== undefined) {
      const alive = () => processAlive(pid);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 3000;
      while (alive() && Date.now() < deadline) await sleep(50);
      if (alive()) process.kill(pid, 'SIGKILL');
    }
    if (!opts.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
