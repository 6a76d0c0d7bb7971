/**
 * nft data plane at scale: N Services × 10 real servers applied in a throwaway namespace,
 * then one endpoint change, a pass with nothing changed, and a forced full resync over the
 * populated table. Env: BGPVS_BENCH_SERVICES (10000), BGPVS_BENCH_BUCKETS (31),
 * BGPVS_BENCH_REMOTE=1 (half the real servers on other nodes: Cluster policy, masqueraded).
 * Each step prints wall time and CPU time (this process + the nft it ran): on a shared
 * machine the wall time includes waiting for a core, the CPU time does not.
 * Then the IPVS figures from the VM (1,000 services; BGPVS_BENCH_IPVS=0 skips them).
 * Last line: one JSON object.
 */
import { readFileSync } from 'node:fs';
import { NetLab } from '../test/rig/netns.js';
import { run } from '../src/exec/run.js';
import { silentLogger } from '../src/observability/logger.js';
import { NftDataPlane } from '../src/dataplane/nft/adapter.js';
import type { SyncResult } from '../src/dataplane/types.js';
import type { VirtualServer } from '../src/model/types.js';
import { ipvsFigures } from './ipvs-figures.js';

const n = Number(process.env.BGPVS_BENCH_SERVICES ?? 10000);
const buckets = Number(process.env.BGPVS_BENCH_BUCKETS ?? 31);
const remote = process.env.BGPVS_BENCH_REMOTE === '1';
const vsOf = (i: number, shift = 0): VirtualServer => ({
  vip: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, protocol: 'TCP', port: 80, family: 'IPv4',
  scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0, forwarding: 'nat', services: [`bench/s${i}`],
  realServers: Array.from({ length: 10 }, (_, b) => ({
    address: `10.${200 + ((b + shift) % 50)}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 1, nodeName: remote && b % 2 ? 'other' : 'node',
  })),
});

/** CPU ms of this process and of its waited-for children (nft), from /proc/self/stat. */
function cpuMs(): number {
  const own = process.cpuUsage();
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(f[13]) + Number(f[14]); // cutime, cstime (fields 16, 17)
  return (own.user + own.system) / 1000 + ticks * 10; // USER_HZ = 100
}

async function step(what: string, fn: () => Promise<SyncResult>): Promise<{ ms: number; cpu: number }> {
  const c0 = cpuMs();
  const t0 = performance.now();
  const r = await fn();
  const ms = Math.round(performance.now() - t0);
  const cpu = Math.round(cpuMs() - c0);
  console.log(`${what}: ${ms} ms wall, ${cpu} ms CPU (${r.mode}, ${r.operations} statements)`);
  return { ms, cpu };
}

const lab = await NetLab.create('bench');
let nft: Record<string, unknown> | undefined;
try {
  await lab.addNs('node');
  const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets });
  const desired = Array.from({ length: n }, (_, i) => vsOf(i));
  console.log(`${n} services x 10 real servers${remote ? ' (half on other nodes)' : ''}, M=${buckets} (${n * buckets} bucket elements)`);
  const full = await step('full apply (render + replace)', () => dp.sync(desired));
  desired[n >> 1] = vsOf(n >> 1, 1); // one endpoint set changes
  const inc = await step('incremental (one endpoint changes: diff + element update)', () => dp.sync(desired));
  const noop = await step('no change', () => dp.sync(desired));
  dp.resync();
  const resync = await step('full resync over the populated table', () => dp.sync(desired));
  nft = {
    nft_full_apply_ms: full.ms,
    nft_incremental_ms: inc.ms,
    nft_full_apply_cpu_ms: full.cpu,
    nft_incremental_cpu_ms: inc.cpu,
    nft_noop_ms: noop.ms,
    nft_resync_ms: resync.ms,
    nft_buckets: buckets,
    nft_remote: remote,
    nft_services: n,
  };
} finally {
  await lab.destroy();
}
const ipvs = process.env.BGPVS_BENCH_IPVS === '0' ? undefined : await ipvsFigures(1000);
console.log(
  JSON.stringify({
    ...nft,
    ipvs_services: 1000,
    ipvs_full_apply_ms: ipvs?.ipvs_full_apply_ms ?? null,
    ipvs_incremental_ms: ipvs?.ipvs_incremental_ms ?? null,
  }),
);
