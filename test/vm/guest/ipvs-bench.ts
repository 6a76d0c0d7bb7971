/**
 * Runs INSIDE the VM (compiled: test/rig/guest-build.ts): IpvsDataPlane.sync timings for N services × 10 real servers in a fresh
 * network namespace. Prints one JSON line. N from argv[2] (default 1000).
 */
import { execFileSync } from 'node:child_process';
import { run } from '../../../src/exec/run.js';
import { createLogger } from '../../../src/observability/logger.js';
import { IpvsDataPlane } from '../../../src/dataplane/ipvs/adapter.js';
import type { VirtualServer } from '../../../src/model/types.js';

const n = Number(process.argv[2] ?? 1000);
const ns = `bv${process.pid}-ipvsbench`;
execFileSync('ip', ['netns', 'add', ns]);
// real servers must be unicast per the namespace's routes: give it a connected 10/8
for (const argv of [['link', 'set', 'lo', 'up'], ['link', 'add', 'd0', 'type', 'dummy'], ['addr', 'add', '10.0.0.1/8', 'dev', 'd0'], ['link', 'set', 'd0', 'up']]) {
  execFileSync('ip', ['-n', ns, ...argv]);
}
try {
  const vip = (i: number) => `10.100.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  const desired: VirtualServer[] = Array.from({ length: n }, (_, i) => ({
    vip: vip(i), port: 80, protocol: 'TCP', family: 'IPv4', scheduler: 'mh', schedulerFlags: ['mh-port'], persistenceSeconds: 0, forwarding: 'tunnel',
    realServers: Array.from({ length: 10 }, (_, j) => ({ address: `10.244.${j}.${(i % 250) + 1}`, port: 8080, weight: 1 })), services: [`default/s${i}`],
  }));
  const dp = new IpvsDataPlane({ run, logger: createLogger({ level: 'warn' }), netns: ns, managedVips: new Set(desired.map((d) => d.vip)) });
  let t = performance.now();
  const full = await dp.sync(desired);
  const fullMs = performance.now() - t;
  // one endpoint change: service 0's first real server replaced
  const changed = desired.map((d, i) => (i === 0 ? { ...d, realServers: [{ address: '10.250.0.1', port: 8080, weight: 1 }, ...d.realServers.slice(1)] } : d));
  t = performance.now();
  const inc = await dp.sync(changed);
  const incMs = performance.now() - t;
  t = performance.now();
  const noop = await dp.sync(changed);
  const noopMs = performance.now() - t;
  // where a pass spends its time: the two listings, and the batch alone
  t = performance.now();
  await dp.table();
  const listMs = performance.now() - t;
  t = performance.now();
  await dp.connections();
  const connsMs = performance.now() - t;
  t = performance.now();
  await run(['ipvsadm', '-R'], { netns: ns, input: '-e -t 10.100.0.1:80 -r 10.250.0.1:80 -i -w 2\n' });
  const oneOpMs = performance.now() - t;
  console.log(JSON.stringify({ ipvs_list_save_ms: Math.round(listMs), ipvs_list_conns_ms: Math.round(connsMs), ipvs_restore_one_op_ms: Math.round(oneOpMs), ipvs_services: n, ipvs_real_servers: n * 10, ipvs_full_apply_ms: Math.round(fullMs), ipvs_full_ops: full.ops.length, ipvs_incremental_ms: Math.round(incMs), ipvs_incremental_ops: inc.ops.length, ipvs_noop_ms: Math.round(noopMs), ipvs_noop_ops: noop.ops.length }));
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
}
