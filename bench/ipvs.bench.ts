/**
 * IPVS data-plane figures, measured in the VM on Debian's stock kernel (this host has no
 * IPVS): 1,000 services × 10 real servers applied by IpvsDataPlane.sync, then one endpoint
 * change. Times include what a pass does: ipvsadm -Sn + -Ln, parse, diff, ipvsadm -R.
 * Last line: {"ipvs_services":1000,"ipvs_full_apply_ms":…,"ipvs_incremental_ms":…}
 * Run as root: node --import tsx bench/ipvs.bench.ts [services]
 */
import { KernelVm } from '../src/rig/kernel-vm.js';

const n = Number(process.argv[2] ?? 1000);
const why = process.getuid?.() !== 0 ? 'needs root' : KernelVm.unavailableReason();
if (why) {
  console.error(`ipvs bench skipped: ${why}`);
  process.exit(0);
}
const res = await new KernelVm().run(['node', '--import', 'tsx', 'test/vm/guest/ipvs-bench.ts', String(n)], { timeoutMs: 900_000 });
const line = res.stdout.trim().split('\n').pop() ?? '';
const figures = JSON.parse(line) as Record<string, number>;
console.error(`VM wall ${res.timings.wallMs} ms (boot ${res.timings.bootMs} ms); qemu TCG: kernel-side times are slower than on hardware`);
console.log(JSON.stringify({ ipvs_services: figures.ipvs_services, ipvs_full_apply_ms: figures.ipvs_full_apply_ms, ipvs_incremental_ms: figures.ipvs_incremental_ms, ...figures }));
