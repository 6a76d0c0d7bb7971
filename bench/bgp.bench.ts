/**
 * BGP benchmark with real gobgpd (under GobgpdSupervisor/GobgpSpeaker) and real FRR in
 * network namespaces (the harness of test/integration/bgp-lab.ts):
 *  - 100 wanted-set changes (alternately a new VIP added and the previous one withdrawn):
 *    time from setAdvertisements() to the change in the router's kernel FIB (`ip monitor`);
 *  - time to announce 10,000 VIPs from one node until all are in the router's FIB;
 *  - BFD failover (gobgpd native BFD vs FRR bfdd 100 ms x 3): cut a node's link → its next
 *    hop leaves the FIB; median of 3 cuts.
 * Needs root. Targets (issue 4): fib_p99_ms < 200, bfd_failover_ms < 1000.
 * The last line is one JSON object.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BgpLab, ad, skipReason } from '../test/rig/bgp-lab.js';
import { waitFor } from '../src/util/wait.js';
import type { Advertisement } from '../src/model/types.js';

const CHANGES = 100;
const MANY = 10_000;

const reason = skipReason('frr');
if (reason) {
  console.error(`bench:bgp cannot run: ${reason}`);
  process.exit(1);
}

/** Streams `ip monitor route` in the router namespace; resolves waits on matching lines. */
class RouteMonitor {
  private readonly waiters: { re: RegExp; resolve: (t: number) => void }[] = [];
  private readonly proc;
  constructor(ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, 'ip', '-4', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const now = performance.now();
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.re.test(line)) {
          this.waiters.splice(i, 1);
          w.resolve(now);
        }
      }
    });
  }
  wait(re: RegExp, timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no route event matching ${re} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ re, resolve: (t) => (clearTimeout(timer), resolve(t)) });
    });
  }
  stop(): void {
    this.proc.kill();
  }
}

const esc = (s: string) => s.replace(/\./g, '\\.');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const round = (x: number) => Math.round(x * 10) / 10;

async function fibChanges(): Promise<{ p50: number; p99: number; max: number }> {
  const l = await BgpLab.create({ tag: 'bbfib', nodes: 1, router: 'frr' });
  try {
    await l.waitEstablished();
    const sp = l.nodes[0]!.speaker;
    const mon = new RouteMonitor(l.lab.ns('r'));
    await new Promise((r) => setTimeout(r, 300)); // monitor attached
    const base = ad('10.100.0.10/32');
    await sp.setAdvertisements([base]);
    await l.waitNexthops('10.100.0.10/32', 1);
    const lat: number[] = [];
    let cur: Advertisement[] = [base];
    for (let k = 0; k < CHANGES; k++) {
      const vip = `10.100.1.${Math.floor(k / 2) + 1}`;
      const adding = k % 2 === 0;
      const seen = mon.wait(adding ? new RegExp(`^${esc(vip)} `) : new RegExp(`^Deleted ${esc(vip)} `));
      cur = adding ? [base, ad(`${vip}/32`)] : [base];
      const t0 = performance.now();
      await sp.setAdvertisements(cur);
      const t1 = await seen;
      lat.push(t1 - t0);
    }
    mon.stop();
    return { p50: round(pct(lat, 50)), p99: round(pct(lat, 99)), max: round(Math.max(...lat)) };
  } finally {
    await l.destroy();
  }
}

async function announceMany(): Promise<{ totalMs: number; rpcMs: number }> {
  const l = await BgpLab.create({ tag: 'bb10k', nodes: 1, router: 'frr' });
  try {
    await l.waitEstablished();
    const ads: Advertisement[] = [];
    for (let i = 0; i < MANY; i++) ads.push(ad(`10.100.${(i >> 8) & 255}.${i & 255}/32`));
    const t0 = performance.now();
    await l.nodes[0]!.speaker.setAdvertisements(ads);
    const rpcMs = performance.now() - t0;
    await waitFor(
      `${MANY} BGP routes in the router FIB`,
      async () => {
        const r = await l.r(['ip', '-4', 'route', 'show', 'proto', 'bgp']);
        return r.stdout.split('\n').filter(Boolean).length >= MANY ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 25 },
    );
    return { totalMs: round(performance.now() - t0), rpcMs: round(rpcMs) };
  } finally {
    await l.destroy();
  }
}

async function bfdFailover(): Promise<number[]> {
  const VIP = '10.100.0.10/32';
  const l = await BgpLab.create({ tag: 'bbbfd', nodes: 3, router: 'frr', bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } });
  const out: number[] = [];
  try {
    await l.waitEstablished();
    for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP)]);
    for (let run = 0; run < 3; run++) {
      await l.waitNexthops(VIP, 3, 120_000);
      await l.waitBfdUp(3, 120_000);
      await l.waitEstablished(120_000);
      await l.waitNexthops(VIP, 3, 120_000);
      const t0 = performance.now();
      await l.lab.setLink('r', 'p1', 'down');
      await l.waitNexthops(VIP, 2, 10_000, 5);
      out.push(round(performance.now() - t0));
      await l.lab.setLink('r', 'p1', 'up');
    }
    return out;
  } finally {
    await l.destroy();
  }
}

const fib = await fibChanges();
console.log(`fib: ${CHANGES} changes (add/withdraw alternately): p50 ${fib.p50} ms, p99 ${fib.p99} ms, max ${fib.max} ms`);
const many = await announceMany();
console.log(`announce ${MANY}: ${many.totalMs} ms to the router FIB (gobgpd accepted them in ${many.rpcMs} ms)`);
const bfd = await bfdFailover();
const bfdMed = [...bfd].sort((a, b) => a - b)[1]!;
console.log(`bfd failover: ${bfd.join(', ')} ms (median ${bfdMed} ms)`);
console.log(JSON.stringify({ changes: CHANGES, fib_p50_ms: fib.p50, fib_p99_ms: fib.p99, announce_10k_ms: many.totalMs, bfd_failover_ms: bfdMed }));
process.exit(0);
