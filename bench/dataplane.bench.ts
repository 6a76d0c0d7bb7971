/**
 * nft data plane at scale: N Services × 10 real servers applied in a throwaway namespace,
 * then one endpoint change. Env: BGPVS_BENCH_SERVICES (10000), BGPVS_BENCH_BUCKETS (31).
 * Last line: one JSON object.
 */
import { NetLab } from '../src/rig/netns.js';
import { run } from '../src/exec/run.js';
import { silentLogger } from '../src/observability/logger.js';
import { NftDataPlane } from '../src/dataplane/nft/adapter.js';
import type { VirtualServer } from '../src/model/types.js';

const n = Number(process.env.BGPVS_BENCH_SERVICES ?? 10000);
const buckets = Number(process.env.BGPVS_BENCH_BUCKETS ?? 31);
const vsOf = (i: number, shift = 0): VirtualServer => ({
  vip: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, protocol: 'TCP', port: 80, family: 'IPv4',
  scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0, forwarding: 'nat', services: [`bench/s${i}`],
  realServers: Array.from({ length: 10 }, (_, b) => ({ address: `10.${200 + ((b + shift) % 50)}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 1 })),
});

const lab = await NetLab.create('bench');
try {
  await lab.addNs('node');
  const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets });
  const desired = Array.from({ length: n }, (_, i) => vsOf(i));
  let t0 = performance.now();
  const full = await dp.sync(desired);
  const fullMs = Math.round(performance.now() - t0);
  console.log(`full apply: ${n} services x 10, M=${buckets}: ${fullMs} ms (${full.mode})`);
  desired[n >> 1] = vsOf(n >> 1, 1); // one endpoint set changes
  t0 = performance.now();
  const inc = await dp.sync(desired);
  const incMs = Math.round(performance.now() - t0);
  console.log(`incremental (re-read + diff + apply): ${incMs} ms (${inc.mode}, ${inc.operations} statements)`);
  console.log(JSON.stringify({ nft_full_apply_ms: fullMs, nft_incremental_ms: incMs, nft_buckets: buckets, nft_services: n, ipvs_services: 1000, ipvs_full_apply_ms: null, ipvs_incremental_ms: null }));
} finally {
  await lab.destroy();
}
