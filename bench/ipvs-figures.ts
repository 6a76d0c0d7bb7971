/**
 * IPVS figures from the VM on Debian's stock kernel (this host has no IPVS): N services × 10
 * real servers applied by IpvsDataPlane.sync, then one endpoint change (test/vm/guest/ipvs-bench.ts).
 * Undefined, with the reason on stderr, where the VM cannot run.
 */
import { KernelVm, shellQuote } from '../test/rig/kernel-vm.js';
import { guestNode } from '../test/rig/guest-build.js';

export async function ipvsFigures(n: number): Promise<Record<string, number> | undefined> {
  const why = process.getuid?.() !== 0 ? 'needs root' : KernelVm.unavailableReason();
  if (why) {
    console.error(`ipvs bench skipped: ${why}`);
    return undefined;
  }
  const res = await new KernelVm().run(`${await guestNode('test/vm/guest/ipvs-bench.ts')} ${shellQuote(String(n))}`, { timeoutMs: 900_000 });
  for (const l of res.stdout.trim().split('\n').slice(0, -1)) console.error(`  vm: ${l}`);
  console.error(`VM wall ${res.timings.wallMs} ms (boot ${res.timings.bootMs} ms); qemu TCG: kernel-side times are slower than on hardware`);
  return JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as Record<string, number>;
}
