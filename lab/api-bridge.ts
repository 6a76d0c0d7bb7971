/**
 * Lets processes inside lab namespaces reach the API server on the host's loopback, at the
 * same address (https://127.0.0.1:PORT), so one kubeconfig serves both sides. A socat on the
 * host listens on a unix socket (file-system sockets cross network namespaces) and connects
 * to the API server; in each namespace a socat listens on 127.0.0.1:PORT and connects to that
 * socket. TLS passes through untouched.
 */
import { join } from 'node:path';
import { spawnDaemon } from '../src/exec/run.js';
import type { NetLab } from '../test/rig/netns.js';
import { waitFor } from '../src/util/wait.js';
import { existsSync } from 'node:fs';

export class ApiBridge {
  private readonly procs: Array<ReturnType<typeof spawnDaemon>> = [];
  readonly socket: string;

  constructor(private readonly o: { dir: string; port: number; logFile?: string }) {
    this.socket = join(o.dir, 'kube-api.sock');
  }

  async start(): Promise<void> {
    this.procs.push(
      spawnDaemon(['socat', `UNIX-LISTEN:${this.socket},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${this.o.port}`], this.logOpts()),
    );
    await waitFor('api bridge socket', () => (existsSync(this.socket) ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
  }

  /** Make 127.0.0.1:PORT inside the lab namespace `ns` lead to the API server. */
  async attach(lab: NetLab, ns: string): Promise<void> {
    this.procs.push(
      spawnDaemon(['socat', `TCP-LISTEN:${this.o.port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${this.socket}`], {
        netns: lab.ns(ns),
        ...this.logOpts(),
      }),
    );
    await waitFor(
      `api bridge in ${ns}`,
      async () => {
        const r = await lab.exec(ns, ['ss', '-Hltn', `sport = :${this.o.port}`], { allowFailure: true });
        return r.stdout.includes(`127.0.0.1:${this.o.port}`) ? true : undefined;
      },
      { timeoutMs: 5000, intervalMs: 50 },
    );
  }

  stop(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs.length = 0;
  }

  private logOpts(): { logFile?: string } {
    return this.o.logFile ? { logFile: this.o.logFile } : {};
  }
}
