/**
 * bgpvs's own IPVS adapter, node VIPs and pod DSR on the real kernel: one VM boot runs
 * test/vm/guest/ipvs-dsr.ts (client → director → two backends in namespaces) and hands back
 * JSON; every scenario is asserted here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelVm } from '../rig/kernel-vm.js';
import { guestNode } from '../rig/guest-build.js';

const unavailable = process.getuid?.() !== 0 ? 'needs root (qemu, network namespaces in the guest)' : KernelVm.unavailableReason();
const skip = unavailable ? `IPVS VM test skipped: ${unavailable}` : false;

interface Stats { conns: number; inPkts: number; outPkts: number }
interface GuestResult {
  ok: boolean;
  error?: string;
  vips: { add: string[]; createdInterface: boolean; sysctlsChanged: Record<string, string> };
  sync1: { ops: number; batch: string; sysctls: { wanted: Record<string, string>; changed: Record<string, string> } };
  pods: Array<{ found: boolean; add: string[] }>;
  podsAgain: { add: string[]; remove: string[] };
  tunnelHits: Record<string, number>;
  drHits: Record<string, number>;
  tunnelStats: Stats;
  drStats: Stats;
  sync2: { ops: number; batch: string };
  b2ConnsBefore: { active: number; inactive: number };
  drain1: { batch: string; draining: number; table: string };
  drainHits: Record<string, number>;
  drain2: { batch: string; draining: number };
  drain3: { batch: string; draining: number };
  drain4: { ops: number };
  removeService: { batch: string };
  vipsAfter: { remove: string[] };
  vipList: string[];
  finalTable: string;
  goldenInitial: string;
}

test('IPVS in the VM: tunnel + DR with direct return, drain then remove, second sync no-op, foreign service survives', { skip, timeout: 600_000 }, async (t) => {
  const share = await mkdtemp(join(tmpdir(), 'bgpvs-vmshare-'));
  t.after(() => rm(share, { recursive: true, force: true }));
  const vm = new KernelVm();
  const res = await vm.run(`${await guestNode('test/vm/guest/ipvs-dsr.ts')} "$SHARE/ipvs.json"`, { shareDir: share, env: { SHARE: share }, timeoutMs: 400_000 });
  t.diagnostic(`VM wall ${res.timings.wallMs} ms (boot ${res.timings.bootMs} ms, guest ${res.timings.commandMs} ms)`);
  const r = JSON.parse(await readFile(join(share, 'ipvs.json'), 'utf8')) as GuestResult;
  assert.ok(r.ok, r.error);

  await t.test('node VIPs on bgpvs0 with node ARP sysctls', () => {
    assert.deepEqual(r.vips.add, ['10.20.0.100', '10.20.0.101']);
    assert.equal(r.vips.createdInterface, true);
    assert.deepEqual(r.vips.sysctlsChanged, { 'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2' });
  });
  await t.test('first sync: one batch of 6 ops; mh+DSR sysctls set and reported', () => {
    assert.equal(r.sync1.ops, 6);
    assert.deepEqual(r.sync1.sysctls.changed, { 'net.ipv4.vs.expire_nodest_conn': '1', 'net.ipv4.vs.sloppy_tcp': '1' });
  });
  await t.test('pod DSR: VIP on tunl0 and lo in both backends, a repeat is a no-op', () => {
    assert.ok(r.pods.every((p) => p.found && p.add.length === 1));
    assert.deepEqual([r.podsAgain.add, r.podsAgain.remove], [[], []]);
  });
  await t.test('tunnel (IPIP): real TCP reaches both backends, director sent no packets back (DSR)', () => {
    assert.equal((r.tunnelHits.b1 ?? 0) + (r.tunnelHits.b2 ?? 0), 20, JSON.stringify(r.tunnelHits));
    assert.ok((r.tunnelHits.b1 ?? 0) > 0 && (r.tunnelHits.b2 ?? 0) > 0);
    assert.ok(r.tunnelStats.inPkts > 0);
    assert.equal(r.tunnelStats.outPkts, 0);
  });
  await t.test('DR: real TCP reaches both backends, director OutPkts 0', () => {
    assert.equal((r.drHits.b1 ?? 0) + (r.drHits.b2 ?? 0), 20, JSON.stringify(r.drHits));
    assert.ok((r.drHits.b1 ?? 0) > 0 && (r.drHits.b2 ?? 0) > 0);
    assert.ok(r.drStats.inPkts > 0);
    assert.equal(r.drStats.outPkts, 0);
  });
  await t.test('second sync is a no-op (zero ops, no ipvsadm -R)', () => {
    assert.deepEqual(r.sync2, { ops: 0, batch: '' });
  });
  await t.test('endpoint removal drains: weight 0 while it has connections, new flows avoid it, removed after grace, then no-op', () => {
    assert.ok(r.b2ConnsBefore.active + r.b2ConnsBefore.inactive > 0, 'b2 had connections');
    assert.equal(r.drain1.batch, '-e -t 10.20.0.100:80 -r 10.10.0.12:80 -i -w 0\n');
    assert.equal(r.drain1.draining, 1);
    assert.match(r.drain1.table, /-r 10\.10\.0\.12:80 -i -w 0/);
    assert.deepEqual(r.drainHits, { b1: 6 });
    assert.deepEqual(r.drain2, { batch: '', draining: 1 });
    assert.deepEqual(r.drain3, { batch: '-d -t 10.20.0.100:80 -r 10.10.0.12:80\n', draining: 0 });
    assert.equal(r.drain4.ops, 0);
  });
  await t.test('a removed service and its VIP go; the foreign virtual service survives every sync', () => {
    assert.equal(r.removeService.batch, '-D -t 10.20.0.101:80\n');
    assert.deepEqual(r.vipsAfter.remove, ['10.20.0.101']);
    assert.deepEqual(r.vipList, ['10.20.0.100']);
    assert.match(r.finalTable, /^-A -t 10\.30\.0\.1:80 -s rr$/m);
    assert.match(r.finalTable, /^-a -t 10\.30\.0\.1:80 -r 10\.10\.0\.11:80 -g -w 1$/m);
  });
  await t.test('golden batch test/unit/golden/ipvs-initial.txt is accepted by the real ipvsadm -R and reads back as written', async () => {
    const want = (await readFile(new URL('../unit/golden/ipvs-initial.txt', import.meta.url), 'utf8')).trim().split('\n');
    const got = r.goldenInitial.trim().split('\n').map((l) => l.replace(/ --tun-type ipip$/, ''));
    assert.deepEqual([...got].sort(), [...want].sort());
  });
});
