/**
 * Long-lived client flows through the router: runs `flow-holder.ts` in the client's
 * namespace and talks to it over a unix socket (which no network namespace fences off).
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultPromise } from 'execa';
import { spawnDaemon } from '../src/exec/run.js';
import { repoRoot } from '../test/rig/paths.js';
import { waitFor } from '../src/util/wait.js';
import type { RunningLab } from './run.js';
import type { FlowReport } from './flow-holder.js';

export type { FlowInfo, FlowReport } from './flow-holder.js';

const HOLDER = fileURLToPath(new URL('./flow-holder.ts', import.meta.url));

function get(socketPath: string, path: string, timeoutMs: number): Promise<FlowReport> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as FlowReport);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`flow holder: no answer to ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class HeldFlows {
  private constructor(
    private readonly proc: ResultPromise,
    private readonly socketPath: string,
  ) {}

  /** Open `count` flows from the client to VIP:port (hold responders behind it); wait until each greeted or failed. */
  static async open(l: RunningLab, o: { vip: string; port: number; count: number; dir: string; name?: string; intervalMs?: number }): Promise<HeldFlows> {
    const client = l.topo.nodes.find((n) => n.role === 'client')!;
    const name = o.name ?? 'flows';
    const socketPath = join(o.dir, `${name}.sock`);
    const proc = spawnDaemon(
      [process.execPath, '--import', 'tsx', HOLDER, `--socket=${socketPath}`, `--vip=${o.vip}`, `--port=${o.port}`, `--count=${o.count}`, `--interval-ms=${o.intervalMs ?? 200}`],
      { netns: l.lab.ns(client.name), cwd: repoRoot, logFile: join(o.dir, `${name}.log`) },
    );
    const h = new HeldFlows(proc, socketPath);
    try {
      await waitFor(`${o.count} flows to ${o.vip}:${o.port} opened`, async () => ((await h.status()).phase === 'ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
    } catch (err) {
      h.stop();
      throw err;
    }
    return h;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  status(): Promise<FlowReport> {
    return get(this.socketPath, '/status', 5000);
  }

  /** One more line on every open flow; the report once all echoed or `timeoutMs` passed. */
  check(timeoutMs = 10_000): Promise<FlowReport> {
    return get(this.socketPath, `/check?timeoutMs=${timeoutMs}`, timeoutMs + 5000);
  }

  stop(): void {
    this.proc.kill('SIGTERM');
  }
}
