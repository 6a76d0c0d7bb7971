/**
 * `scripts/vm-boots.sh N`: N consecutive boots of the test VM as test/vm/ipvs-lab.test.ts boots
 * it (2 vCPUs, 3 GiB), each running the guest's node start-up and the compiled guest probe:
 * `node -e` (node alone), then test/vm/fixtures/guest-probe.ts compiled (test/rig/guest-build.ts)
 * twice at once, so both vCPUs run node. A boot is good when all three exit 0 and the probe's
 * result came back. Prints one line per boot, then `crashes/boots`, the longest run of good
 * boots and the time. Exit 1 if any boot was bad.
 *
 * Env: BGPVS_VM_CPU (qemu -cpu value, default KernelVm's), BGPVS_VM_CPUS (default 2).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestNode } from './guest-build.js';
import { KernelVm } from './kernel-vm.js';

const n = Number(process.argv[2] ?? 10);
if (!Number.isInteger(n) || n < 1) throw new Error('usage: vm-boots.ts N');
const why = KernelVm.unavailableReason();
if (why) {
  console.error(`vm-boots: ${why}`);
  process.exit(2);
}

const probe = await guestNode('test/vm/fixtures/guest-probe.ts');
const script = String.raw`
node -e 'console.log(JSON.stringify({ node: process.version, cpus: require("os").cpus().length }))'; echo "rc node-e $?"
${probe} "$SHARE/a.json" & a=$!
${probe} "$SHARE/b.json" & b=$!
wait $a; echo "rc probe-a $?"
wait $b; echo "rc probe-b $?"
`;
const vm = new KernelVm({ memoryMiB: 3072, cpus: Number(process.env.BGPVS_VM_CPUS ?? 2), ...(process.env.BGPVS_VM_CPU ? { cpuModel: process.env.BGPVS_VM_CPU } : {}) });
const t0 = Date.now();
let bad = 0;
let streak = 0;
let best = 0;
for (let i = 1; i <= n; i++) {
  const share = await mkdtemp(join(tmpdir(), 'bgpvs-vmboots-'));
  const started = Date.now();
  let verdict: string;
  try {
    const res = await vm.run(script, { shareDir: share, env: { SHARE: share }, timeoutMs: 300_000, allowFailure: true });
    const codes = [...res.stdout.matchAll(/^rc (\S+) (\d+)$/gm)].map((m) => `${m[1]}=${m[2]}`);
    const results = await Promise.all(['a', 'b'].map((f) => readFile(join(share, `${f}.json`), 'utf8').then(() => true, () => false)));
    const good = codes.length === 3 && codes.every((c) => c.endsWith('=0')) && results.every(Boolean);
    verdict = `${good ? 'good' : 'CRASH'} (${codes.join(' ')}; boot ${res.timings.bootMs} ms)`;
    if (!good) verdict += `\n${res.stderr.trim().split('\n').slice(-6).join('\n')}`;
    if (good) streak++;
    else {
      bad++;
      streak = 0;
    }
  } catch (err) {
    bad++;
    streak = 0;
    verdict = `VM FAILED: ${String(err).split('\n')[0]}`;
  } finally {
    await rm(share, { recursive: true, force: true });
  }
  best = Math.max(best, streak);
  console.log(`boot ${i}/${n}: ${verdict}, ${Date.now() - started} ms`);
}
console.log(`crashes/boots: ${bad}/${n}; longest run of good boots ${best}; ${Math.round((Date.now() - t0) / 1000)} s (cpu ${process.env.BGPVS_VM_CPU ?? 'default'}, ${process.env.BGPVS_VM_CPUS ?? 2} vCPUs)`);
process.exit(bad ? 1 : 0);
