/**
 * Throwaway network namespaces for tests and the lab: namespaces, veth pairs, bridges,
 * addresses, routes and sysctls, all removed on teardown.
 *
 * Every namespace of one `NetLab` is named `bv<ownerPid>-<tag>-<name>`, so a later run can
 * tell leftovers of a dead owner (a killed test) from those of a live one and remove only
 * the former. Interface names live inside each namespace, so they stay short and fixed
 * (eth0, eth1, br0) whatever the namespace is called.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { run as defaultRun, type RunOptions, type RunResult, type Runner } from '../../src/exec/run.js';
import { BgpvsError } from '../../src/errors.js';
import { processAlive } from '../../src/util/process.js';

const NAME_RE = /^bv(\d+)-/;

function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Kill what runs inside a namespace and delete it, synchronously (also usable at exit). */
function removeNetnsSync(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0 && n !== process.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Remove namespaces left by NetLabs whose owner process is dead. Returns their names. */
export function cleanLeftovers(): string[] {
  const removed: string[] = [];
  for (const name of listNetns()) {
    const m = NAME_RE.exec(name);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || processAlive(owner)) continue;
    removeNetnsSync(name);
    removed.push(name);
  }
  return removed;
}

const liveLabs = new Set<NetLab>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

export interface NetLabOptions {
  run?: Runner;
  logger?: Logger;
  /**
   * Outlive this process (the lab): namespaces are named `bvlab-<tag>-<name>`, never
   * removed at exit or as leftovers, and found again with `NetLab.attach(tag)`.
   */
  persistent?: boolean;
}

export interface NsOptions {
  /** Enable IPv4/IPv6 forwarding (routers, nodes). */
  forwarding?: boolean;
}

export class NetLab {
  readonly tag: string;
  private readonly run: Runner;
  private readonly logger: Logger | undefined;
  private readonly names = new Map<string, string>();
  private readonly prefix: string;
  private destroyed = false;

  private constructor(tag: string, opts: NetLabOptions) {
    this.tag = tag;
    this.run = opts.run ?? defaultRun;
    this.logger = opts.logger;
    this.prefix = opts.persistent ? `bvlab-${tag}-` : `bv${process.pid}-${tag}-`;
  }

  /** A new lab; first removes leftovers of dead owners. `tag` must be short ([a-z0-9]). */
  static async create(tag: string, opts: NetLabOptions = {}): Promise<NetLab> {
    if (!/^[a-z0-9]{1,12}$/.test(tag)) throw new BgpvsError(`NetLab tag must be 1-12 of [a-z0-9]: ${tag}`);
    if (process.getuid?.() !== 0) throw new BgpvsError('network namespaces need root');
    const removed = cleanLeftovers();
    if (removed.length) opts.logger?.warn({ removed }, 'removed namespaces left by a dead run');
    const lab = new NetLab(tag, opts);
    if (!opts.persistent) {
      installExitHook();
      liveLabs.add(lab);
    }
    return lab;
  }

  /** The persistent lab `tag` as it exists now (its namespaces found in /run/netns). */
  static attach(tag: string, opts: Omit<NetLabOptions, 'persistent'> = {}): NetLab {
    const lab = new NetLab(tag, { ...opts, persistent: true });
    for (const full of listNetns()) {
      if (full.startsWith(lab.prefix)) lab.names.set(full.slice(lab.prefix.length), full);
    }
    return lab;
  }

  /** Full namespace name of a lab-local name. */
  ns(name: string): string {
    const full = this.names.get(name);
    if (!full) throw new BgpvsError(`no namespace ${name} in lab ${this.tag}`);
    return full;
  }

  get namespaces(): ReadonlyMap<string, string> {
    return this.names;
  }

  async addNs(name: string, opts: NsOptions = {}): Promise<string> {
    if (this.names.has(name)) throw new BgpvsError(`namespace ${name} exists in lab ${this.tag}`);
    const full = `${this.prefix}${name}`;
    await this.run(['ip', 'netns', 'add', full]);
    this.names.set(name, full);
    await this.exec(name, ['ip', 'link', 'set', 'lo', 'up']);
    if (opts.forwarding) {
      await this.sysctl(name, 'net.ipv4.ip_forward', '1');
      await this.sysctl(name, 'net.ipv6.conf.all.forwarding', '1');
    }
    return full;
  }

  /** Run argv inside the lab namespace `name`. */
  exec(name: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run(argv, { ...opts, netns: this.ns(name) });
  }

  /** A veth pair between two namespaces, both ends up. */
  async link(aNs: string, aIf: string, bNs: string, bIf: string, opts: { mtu?: number } = {}): Promise<void> {
    await this.exec(aNs, ['ip', 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', this.ns(bNs)]);
    for (const [n, i] of [[aNs, aIf], [bNs, bIf]] as const) {
      if (opts.mtu) await this.exec(n, ['ip', 'link', 'set', i, 'mtu', String(opts.mtu)]);
      await this.exec(n, ['ip', 'link', 'set', i, 'up']);
    }
  }

  /** A bridge `br` in namespace `ns`, enslaving the given interfaces of that namespace. */
  async bridge(ns: string, br: string, ports: readonly string[]): Promise<void> {
    await this.exec(ns, ['ip', 'link', 'add', br, 'type', 'bridge']);
    await this.exec(ns, ['ip', 'link', 'set', br, 'up']);
    for (const p of ports) await this.exec(ns, ['ip', 'link', 'set', p, 'master', br]);
  }

  async addr(ns: string, ifname: string, cidr: string): Promise<void> {
    const fam = cidr.includes(':') ? ['-6'] : [];
    await this.exec(ns, ['ip', ...fam, 'addr', 'add', cidr, 'dev', ifname, ...(fam.length ? ['nodad'] : [])]);
  }

  async setLink(ns: string, ifname: string, state: 'up' | 'down'): Promise<void> {
    await this.exec(ns, ['ip', 'link', 'set', ifname, state]);
  }

  /** `ip route replace DST ...spec` (spec e.g. ['via', '10.0.0.1'] or ['dev', 'eth0']). */
  async route(ns: string, dst: string, spec: readonly string[]): Promise<void> {
    const fam = dst.includes(':') ? ['-6'] : [];
    await this.exec(ns, ['ip', ...fam, 'route', 'replace', dst, ...spec]);
  }

  async sysctl(ns: string, key: string, value: string): Promise<void> {
    await this.exec(ns, ['sysctl', '-qw', `${key}=${value}`]);
  }

  /** Kill everything running in the lab's namespaces and delete them. */
  async destroy(): Promise<void> {
    this.destroySync();
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const full of this.names.values()) removeNetnsSync(full);
    this.logger?.debug({ lab: this.tag, namespaces: [...this.names.values()] }, 'lab removed');
  }
}

/** Names of all namespaces currently present (for tests asserting cleanup). */
export function presentNetns(): string[] {
  return listNetns();
}
