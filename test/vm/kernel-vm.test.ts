import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelVm, VmBootError, VmCommandError } from '../rig/kernel-vm.js';
import { DEFAULT_VM_MODULES, ensureInitramfs, findKernel } from '../rig/initramfs.js';
import { guestNode } from '../rig/guest-build.js';

const unavailable = KernelVm.unavailableReason();
const skip = unavailable ? `KernelVm smoke skipped: ${unavailable}` : false;

// One boot for the main checks: boots under TCG take seconds.
const script = (probe: string) => String.raw`
set -euo pipefail
ipvsadm -A -t 10.0.0.100:80 -s rr
ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 2
ipvsadm -A -t 10.0.0.200:80 -s mh -b mh-port
ipvsadm -a -t 10.0.0.200:80 -r 10.0.0.11:80 -i -w 1
ipvsadm -a -t 10.0.0.200:80 -r 10.0.0.12:80 -i -w 1
echo '--- ipvs'
ipvsadm -Sn
echo '--- netns'
ip netns add probe
ip -n probe link add t0 type ipip local 10.1.0.1 remote 10.1.0.2
ip netns exec probe ipvsadm -Sn | wc -l
echo '--- node'
node -e 'console.log(JSON.stringify({ node: process.version, kernel: require("os").release(), vm: process.env.BGPVS_VM }))'
echo '--- probe'
${probe} "$SHARE/probe.json"
`;

function section(stdout: string, name: string): string[] {
  const m = new RegExp(`^--- ${name}\\n([\\s\\S]*?)(?=^--- |(?![\\s\\S]))`, 'm').exec(stdout);
  assert.ok(m, `section ${name} missing in:\n${stdout}`);
  return m[1]!.trim().split('\n');
}

test('KernelVm: ipvsadm DR + tunnel services, netns, node and compiled repository code inside one boot', { skip, timeout: 600_000 }, async (t) => {
  const vm = new KernelVm();
  const share = await mkdtemp(join(tmpdir(), 'bgpvs-vmshare-'));
  t.after(() => rm(share, { recursive: true, force: true }));
  const prep = Date.now();
  const images = await vm.prepare();
  t.diagnostic(`initramfs ${images.initramfs.built ? 'built' : 'cached'}, kernel ${images.pvh ? 'PVH vmlinux' : 'bzImage'} in ${Date.now() - prep} ms`);

  const res = await vm.run(script(await guestNode('test/vm/fixtures/guest-probe.ts')), { shareDir: share, env: { SHARE: share }, timeoutMs: 300_000 });
  t.diagnostic(`boot+run wall ${res.timings.wallMs} ms (guest boot ${res.timings.bootMs} ms, command ${res.timings.commandMs} ms)`);

  assert.deepEqual(section(res.stdout, 'ipvs'), [
    '-A -t 10.0.0.100:80 -s rr',
    '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1',
    '-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 2',
    '-A -t 10.0.0.200:80 -s mh -b mh-port',
    '-a -t 10.0.0.200:80 -r 10.0.0.11:80 -i -w 1 --tun-type ipip',
    '-a -t 10.0.0.200:80 -r 10.0.0.12:80 -i -w 1 --tun-type ipip',
  ]);
  // a fresh namespace has its own, empty IPVS table
  assert.deepEqual(section(res.stdout, 'netns'), ['0']);
  const node = JSON.parse(section(res.stdout, 'node')[0]!) as { node: string; kernel: string; vm: string };
  assert.equal(node.node, process.version);
  assert.equal(node.kernel, vm.kernel.version);
  assert.equal(node.vm, '1');
  assert.deepEqual(section(res.stdout, 'probe'), [`probe wrote ${share}/probe.json`]);

  // repository TypeScript ran inside (compiled, plain node) and handed its result back through the share
  const probe = JSON.parse(await readFile(join(share, 'probe.json'), 'utf8')) as { kernel: string; ipvs: string[]; modules: string[] };
  assert.equal(probe.kernel, vm.kernel.version);
  assert.equal(probe.ipvs.length, 6);
  for (const m of ['ip_vs', 'ip_vs_mh', 'ipip', 'nf_tables', 'veth', 'bridge']) assert.ok(probe.modules.includes(m), `module ${m} loaded`);
});

test('KernelVm: a failing command is a VmCommandError with its exit status, not a VM failure', { skip, timeout: 300_000 }, async () => {
  const vm = new KernelVm();
  const res = await vm.run(['bash', '-c', 'echo out; echo err >&2; exit 7'], { allowFailure: true });
  assert.equal(res.exitCode, 7);
  assert.equal(res.stdout, 'out\n');
  assert.equal(res.stderr, 'err\n');
  await assert.rejects(vm.run('echo "it broke" >&2; exit 3'), (err: unknown) => {
    assert.ok(err instanceof VmCommandError);
    assert.equal(err.exitCode, 3);
    assert.match(err.stderr, /it broke/);
    return true;
  });
});

test('KernelVm: a VM that does not come up in time is a VmBootError carrying the console', { skip, timeout: 120_000 }, async () => {
  const vm = new KernelVm();
  await vm.prepare();
  const started = Date.now();
  await assert.rejects(vm.run('true', { timeoutMs: 1_000 }), (err: unknown) => {
    assert.ok(err instanceof VmBootError, String(err));
    assert.equal(err.stage, 'boot');
    assert.equal(err.timedOut, true);
    return true;
  });
  assert.ok(Date.now() - started < 15_000, 'qemu was killed at the timeout');
});

test('KernelVm: a module that cannot load is a VmBootError naming it, not a command failure', { skip, timeout: 300_000 }, async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'bgpvs-vmcache-'));
  t.after(() => rm(cache, { recursive: true, force: true }));
  // kvm_intel needs VMX, which TCG does not emulate: insmod fails inside the guest
  const vm = new KernelVm({ cacheDir: cache, modules: [...DEFAULT_VM_MODULES, 'kvm_intel'] });
  await assert.rejects(vm.run('true', { timeoutMs: 120_000 }), (err: unknown) => {
    assert.ok(err instanceof VmBootError, String(err));
    assert.equal(err.timedOut, false);
    assert.match(err.message, /insmod .*kvm-intel\.ko/);
    assert.match(err.consoleTail, /BOOT FAILED/);
    return true;
  });
});

test('initramfs: cached by its inputs, rebuilt only when they change', { skip }, async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'bgpvs-vmcache-'));
  t.after(() => rm(cache, { recursive: true, force: true }));
  const kernel = findKernel();
  const a = await ensureInitramfs({ kernel, cacheDir: cache, modules: ['ipip'] });
  assert.equal(a.built, true);
  const again = await ensureInitramfs({ kernel, cacheDir: cache, modules: ['ipip'] });
  assert.deepEqual(again, { ...a, built: false });
  const b = await ensureInitramfs({ kernel, cacheDir: cache, modules: ['ipip', 'dummy'] });
  assert.equal(b.built, true);
  assert.notEqual(b.path, a.path);
  await assert.rejects(ensureInitramfs({ kernel, cacheDir: cache, modules: ['no_such_module'] }), /no_such_module not found/);
});
