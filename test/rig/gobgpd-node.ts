/**
 * A bare gobgpd "node" for router smoke tests: gobgpd from a TOML file inside a node
 * namespace, with no BGP listener (`port = -1`: it only connects out) and its gRPC API on a
 * unix socket in its temp dir (`--api-hosts unix://...`), so this process, the gobgp CLI
 * and a GobgpClient (`target`) reach it from outside the namespace without any TCP port.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, spawnDaemon } from '../../src/exec/run.js';
import type { NetLab } from './netns.js';
import { gobgpProtoDir, toolPath } from './paths.js';
import { GobgpClient } from '../../src/bgp/gobgp-client.js';
import { renderPeer, type BfdConfig, type PeerConfig } from '../../src/bgp/config.js';
import { sleep, waitFor } from '../../src/util/wait.js';

export interface GobgpdNodeOptions {
  lab: NetLab;
  ns: string;
  asn: number;
  routerId: string;
  /** One router, or several (each gets the same timers). */
  peer: { address: string; asn: number } | readonly { address: string; asn: number }[];
  /**
   * gobgpd's native BFD on every peer. The TOML then holds only the global config and the
   * peers are added over gRPC (src/bgp's renderPeer + GobgpClient), as the agent does.
   */
  bfd?: BfdConfig;
}

export class GobgpdNode {
  private constructor(
    readonly opts: GobgpdNodeOptions,
    readonly dir: string,
    readonly pid: number,
    private readonly logFd: number,
  ) {}

  static async start(opts: GobgpdNodeOptions): Promise<GobgpdNode> {
    const dir = mkdtempSync(join(tmpdir(), 'bgpvs-gobgpd-'));
    const conf = join(dir, 'gobgpd.toml');
    const peers = Array.isArray(opts.peer) ? opts.peer : [opts.peer as { address: string; asn: number }];
    const lines = ['[global.config]', `  as = ${opts.asn}`, `  router-id = "${opts.routerId}"`, '  port = -1'];
    for (const p of opts.bfd ? [] : peers) {
      lines.push(
        '[[neighbors]]',
        '  [neighbors.config]',
        `    neighbor-address = "${p.address}"`,
        `    peer-as = ${p.asn}`,
        '  [neighbors.timers.config]',
        '    connect-retry = 1',
        '    idle-hold-time-after-reset = 1',
        '  [[neighbors.afi-safis]]',
        '    [neighbors.afi-safis.config]',
        '      afi-safi-name = "ipv4-unicast"',
      );
    }
    writeFileSync(conf, lines.join('\n') + '\n');
    const logFd = openSync(join(dir, 'gobgpd.log'), 'a');
    const child = spawnDaemon([toolPath('gobgpd'), '-f', conf, '-p', '--api-hosts', `unix://${join(dir, 'api.sock')}`, '--pprof-disable'], {
      netns: opts.lab.ns(opts.ns),
      logFd,
    });
    child.catch(() => undefined);
    const pid = child.pid;
    if (pid === undefined) throw new Error('gobgpd did not start');
    const node = new GobgpdNode(opts, dir, pid, logFd);
    await waitFor('gobgpd gRPC', async () => ((await node.gobgp(['global'], true)).exitCode === 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    if (opts.bfd) {
      const client = new GobgpClient({ target: node.target, protoDir: gobgpProtoDir() });
      try {
        for (const p of peers) {
          const peer: PeerConfig = { address: p.address, asn: p.asn, connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1, bfd: opts.bfd };
          await client.addPeer(renderPeer(peer, { nextHops: { IPv4: opts.routerId } }));
        }
      } finally {
        client.close();
      }
    }
    return node;
  }

  /** gRPC target of this gobgpd's API (for the gobgp CLI's --target or a GobgpClient). */
  get target(): string {
    return `unix://${join(this.dir, 'api.sock')}`;
  }

  /** Run the gobgp CLI against this gobgpd. */
  gobgp(args: readonly string[], allowFailure = false) {
    return run([toolPath('gobgp'), '--target', this.target, ...args], { allowFailure, timeoutMs: 10_000 });
  }

  /** Announce `prefix` with this node as nexthop (v4 CLI: `global rib add PREFIX origin igp nexthop ...`). */
  async announce(prefix: string, nexthop: string, extra: readonly string[] = []): Promise<void> {
    await this.gobgp(['global', 'rib', 'add', prefix, 'origin', 'igp', 'nexthop', nexthop, ...extra, '-a', 'ipv4']);
  }

  async withdraw(prefix: string): Promise<void> {
    await this.gobgp(['global', 'rib', 'del', prefix, '-a', 'ipv4']);
  }

  async stop(): Promise<void> {
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await sleep(20);
    closeSync(this.logFd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
