/**
 * The lab's long-lived flows, as a process run in the client's namespace (`flows.ts` starts
 * it): opens `count` TCP connections to VIP:port (pods answering with a hold responder:
 * a greeting "pod clientIP", then an echo), keeps each one exchanging a numbered line every
 * `interval` ms, and answers on a unix socket (reachable from any network namespace):
 *   GET  /status          every flow's state, without waiting
 *   POST /check?timeoutMs  one more line on every open flow; waits for the echoes
 * A flow is broken once it errs, closes, or echoes out of order; it is never reopened.
 * Usage: flow-holder.ts --socket=PATH --vip=IP --port=N --count=N [--interval-ms=200]
 */
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export type FlowState = 'connecting' | 'open' | 'broken';

export interface FlowInfo {
  id: number;
  /** Client port (the ECMP hash input that differs between flows). */
  localPort?: number;
  /** Pod that greeted. */
  backend?: string;
  /** Client address the pod saw. */
  seenAs?: string;
  state: FlowState;
  error?: string;
  sent: number;
  echoed: number;
}

export interface FlowReport {
  phase: 'opening' | 'ready';
  count: number;
  open: number;
  broken: number;
  /** Open flows whose last line had no echo yet (at /check: within the timeout). */
  pending: number;
  byBackend: Record<string, number>;
  flows: FlowInfo[];
}

interface Flow extends FlowInfo {
  sock?: Socket;
  buf: string;
}

function arg(name: string, def?: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const v = hit ? hit.slice(name.length + 3) : def;
  if (v === undefined) throw new Error(`flow-holder: --${name} missing`);
  return v;
}

const socketPath = arg('socket');
const vip = arg('vip');
const port = Number(arg('port'));
const count = Number(arg('count'));
const intervalMs = Number(arg('interval-ms', '200'));
const flows: Flow[] = Array.from({ length: count }, (_, i) => ({ id: i, state: 'connecting', sent: 0, echoed: 0, buf: '' }));
let phase: FlowReport['phase'] = 'opening';

function breakFlow(f: Flow, why: string): void {
  if (f.state === 'broken') return;
  f.state = 'broken';
  f.error = why;
  f.sock?.destroy();
}

function send(f: Flow): void {
  if (f.state !== 'open' || !f.sock) return;
  f.sent++;
  f.sock.write(`${f.sent}\n`);
}

function onLine(f: Flow, line: string): void {
  if (f.backend === undefined) {
    const [pod, seen] = line.split(' ');
    f.backend = pod ?? '';
    if (seen) f.seenAs = seen;
    f.state = 'open';
    return;
  }
  const n = Number(line);
  if (n !== f.echoed + 1) return breakFlow(f, `echo ${line} after ${f.echoed}`);
  f.echoed = n;
}

function open(f: Flow): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect({ host: vip, port });
    f.sock = sock;
    sock.setNoDelay(true);
    sock.setTimeout(5000, () => {
      if (f.state === 'connecting') breakFlow(f, 'no greeting within 5 s');
    });
    sock.on('connect', () => {
      f.localPort = sock.localPort;
    });
    sock.on('data', (d) => {
      f.buf += d.toString();
      let i;
      while ((i = f.buf.indexOf('\n')) >= 0) {
        const line = f.buf.slice(0, i);
        f.buf = f.buf.slice(i + 1);
        onLine(f, line);
        if (f.state === 'open' && f.echoed === 0 && f.sent === 0) {
          sock.setTimeout(0);
          resolve();
        }
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => breakFlow(f, err.code ?? err.message));
    sock.on('close', () => {
      breakFlow(f, 'closed');
      resolve();
    });
  });
}

function report(): FlowReport {
  const byBackend: Record<string, number> = {};
  for (const f of flows) if (f.backend) byBackend[f.backend] = (byBackend[f.backend] ?? 0) + 1;
  return {
    phase,
    count,
    open: flows.filter((f) => f.state === 'open').length,
    broken: flows.filter((f) => f.state === 'broken').length,
    pending: flows.filter((f) => f.state === 'open' && f.echoed < f.sent).length,
    byBackend,
    flows: flows.map(({ sock: _s, buf: _b, ...info }) => info),
  };
}

/** One more line on every open flow; resolves when all echoed or `timeoutMs` passed. */
async function check(timeoutMs: number): Promise<FlowReport> {
  const want = new Map<Flow, number>();
  for (const f of flows) {
    if (f.state !== 'open') continue;
    send(f);
    want.set(f, f.sent);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && [...want].some(([f, n]) => f.state === 'open' && f.echoed < n)) await new Promise((r) => setTimeout(r, 20));
  return report();
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://holder');
  const reply = (body: unknown) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/status') return reply(report());
  if (url.pathname === '/check') return void check(Number(url.searchParams.get('timeoutMs') ?? 10_000)).then(reply);
  res.statusCode = 404;
  res.end();
});

rmSync(socketPath, { force: true });
server.listen(socketPath);

// Open in batches (a burst of 100 connects forks 100 responders at once on a loaded box).
for (let i = 0; i < flows.length; i += 10) await Promise.all(flows.slice(i, i + 10).map(open));
phase = 'ready';

// Keep every open flow busy, so a flow moved to a node that cannot carry it is found out
// while it is there (a reset), not only when it is checked afterwards. At most one line in
// flight per flow: a stalled flow is not flooded.
setInterval(() => {
  for (const f of flows) if (f.state === 'open' && f.echoed === f.sent) send(f);
}, intervalMs);

process.on('SIGTERM', () => {
  server.close();
  rmSync(socketPath, { force: true });
  process.exit(0);
});
