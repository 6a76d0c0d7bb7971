/**
 * The agent's HTTP endpoints: /healthz (alive), /readyz (synced once, no stale loop), /metrics,
 * and /status (JSON: BGP peers, what the node advertises, and why each Service is or is not).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  /** Undefined when healthy, else why not. */
  liveness(): string | undefined;
  readiness(): string | undefined;
}

export class HttpEndpoints {
  private server: Server | undefined;
  /** `healthOnly`: serve /healthz and /readyz only (a listener every pod may reach, for the kubelet's probes). */
  constructor(private readonly o: { registry: Registry; health: HealthSource; host: string; port: number; status?: () => unknown; healthOnly?: boolean }) {}

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      };
      if (path === '/healthz' || path === '/readyz') {
        const why = path === '/healthz' ? this.o.health.liveness() : this.o.health.readiness();
        reply(why ? 503 : 200, why ? `not ok: ${why}\n` : 'ok\n');
        return;
      }
      if (this.o.healthOnly) {
        reply(404, 'not found\n');
        return;
      }
      if (path === '/status' && this.o.status) {
        let body: string;
        try {
          body = `${JSON.stringify(this.o.status(), null, 1)}\n`;
        } catch (err) {
          reply(500, `${String(err)}\n`);
          return;
        }
        reply(200, body, 'application/json');
        return;
      }
      if (path === '/metrics') {
        this.o.registry.metrics().then(
          (text) => reply(200, text, this.o.registry.contentType),
          (err: unknown) => reply(500, String(err)),
        );
        return;
      }
      reply(404, 'not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
