/** IpvsDataPlane against a fake ipvsadm/sysctl that keeps a table as ipvsadm -S lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { IpvsDataPlane } from '../../src/dataplane/ipvs/adapter.js';
import { requiredIpvsSysctls } from '../../src/dataplane/ipvs/sysctls.js';
import type { VirtualServer } from '../../src/model/types.js';
import { applyIpvsRestore } from './ipvs-fake.js';

/** Understands the commands the adapter sends; -R applies lines to a list of -S lines. */
function fakeHost(initial: string[]) {
  const lines = [...initial];
  const sysctl = new Map<string, string>([['net.ipv4.vs.conntrack', '0'], ['net.ipv4.vs.expire_nodest_conn', '0'], ['net.ipv4.vs.sloppy_tcp', '1']]);
  const calls: string[] = [];
  const conns = { text: '' };
  const run: Runner = async (argv, opts = {}) => {
    calls.push(argv.join(' '));
    const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0 });
    if (argv[0] === 'sysctl' && argv[1] === '-n') return ok(`${sysctl.get(argv[2]!) ?? '0'}\n`);
    if (argv[0] === 'sysctl') {
      const [k, v] = argv[3]!.split('=');
      sysctl.set(k!, v!);
      return ok();
    }
    if (argv.join(' ') === 'ipvsadm -Sn') return ok(lines.map((l) => `${l}\n`).join(''));
    if (argv.join(' ') === 'ipvsadm -Ln') return ok(conns.text);
    if (argv.join(' ') === 'ipvsadm -R') {
      applyIpvsRestore(lines, opts.input ?? '');
      return ok();
    }
    throw new Error(`unexpected ${argv.join(' ')}`);
  };
  return { run, lines, sysctl, calls, conns };
}

const want = (vip: string, reals: string[], extra: Partial<VirtualServer> = {}): VirtualServer => ({
  vip, port: 80, protocol: 'TCP', family: 'IPv4', scheduler: 'mh', schedulerFlags: ['mh-port'], persistenceSeconds: 0, forwarding: 'tunnel',
  realServers: reals.map((address) => ({ address, port: 80, weight: 1 })), services: ['default/web'], ...extra,
});

test('IpvsDataPlane.sync: applies one -R batch, sets needed sysctls, leaves foreign services, second sync is a no-op', async () => {
  const host = fakeHost(['-A -t 10.96.0.1:443 -s rr', '-a -t 10.96.0.1:443 -r 10.0.0.9:6443 -m -w 1']);
  const dp = new IpvsDataPlane({ run: host.run, logger: silentLogger(), managedVips: new Set(['192.0.2.10', '10.96.0.99']) });
  const desired = [want('192.0.2.10', ['10.1.0.2', '10.1.0.3']), want('10.96.0.1', ['10.9.9.9'])];
  const r1 = await dp.sync(desired);
  assert.equal(r1.ops.length, 3);
  assert.deepEqual([r1.mode, r1.operations, r1.skipped], ['incremental', 3, [{ vip: '10.96.0.1', port: 80, protocol: 'TCP', reason: 'vipNotManaged' }]]);
  assert.deepEqual(r1.sysctls.changed, { 'net.ipv4.vs.expire_nodest_conn': '1' });
  assert.deepEqual(r1.sysctls.wanted, { 'net.ipv4.vs.expire_nodest_conn': '1', 'net.ipv4.vs.sloppy_tcp': '1' });
  assert.ok(host.lines.includes('-a -t 10.96.0.1:443 -r 10.0.0.9:6443 -m -w 1'), 'foreign kept');
  assert.equal(host.calls.filter((c) => c === 'ipvsadm -R').length, 1);
  const r2 = await dp.sync(desired);
  assert.deepEqual(r2.ops, []);
  assert.equal(r2.batch, '');
  assert.equal(r2.mode, 'noop');
  assert.equal(host.calls.filter((c) => c === 'ipvsadm -R').length, 1, 'no second ipvsadm -R');
  assert.deepEqual((await dp.list()).map((s) => s.vip), ['192.0.2.10']);
  assert.ok(!host.calls.includes('ipvsadm -Ln'), 'connection counts are listed only when a real server leaves');
});

test('IpvsDataPlane.sync: a leaving real server with connections drains until the grace time, read through -Ln', async () => {
  const host = fakeHost(['-A -t 192.0.2.10:80 -s mh -b mh-port', '-a -t 192.0.2.10:80 -r 10.1.0.2:80 -i -w 1', '-a -t 192.0.2.10:80 -r 10.1.0.3:80 -i -w 1']);
  host.conns.text = 'TCP  192.0.2.10:80 mh (mh-port)\n  -> 10.1.0.3:80                  Tunnel  1      1          4\n';
  let now = 0;
  const dp = new IpvsDataPlane({ run: host.run, logger: silentLogger(), managedVips: () => new Set(['192.0.2.10']), drainGraceMs: 10_000, now: () => now });
  const desired = [want('192.0.2.10', ['10.1.0.2'])];
  assert.equal((await dp.sync(desired)).batch, '-e -t 192.0.2.10:80 -r 10.1.0.3:80 -i -w 0\n');
  now = 9_999;
  assert.deepEqual(await dp.sync(desired).then((r) => [r.batch, r.draining]), ['', 1]);
  now = 10_000;
  assert.equal((await dp.sync(desired)).batch, '-d -t 192.0.2.10:80 -r 10.1.0.3:80\n');
  assert.deepEqual(host.lines, ['-A -t 192.0.2.10:80 -s mh -b mh-port', '-a -t 192.0.2.10:80 -r 10.1.0.2:80 -i -w 1']);
  assert.equal((await dp.sync(desired)).ops.length, 0);
});

test('requiredIpvsSysctls: by mode', () => {
  assert.deepEqual(requiredIpvsSysctls([]), {});
  assert.deepEqual(requiredIpvsSysctls([want('1.1.1.1', [], { forwarding: 'nat', scheduler: 'rr', schedulerFlags: [], persistenceSeconds: 60 })]), {
    'net.ipv4.vs.expire_nodest_conn': '1', 'net.ipv4.vs.conntrack': '1', 'net.ipv4.vs.expire_quiescent_template': '1',
  });
  assert.deepEqual(requiredIpvsSysctls([want('1.1.1.1', [], { protocol: 'SCTP', forwarding: 'dr' })]), { 'net.ipv4.vs.expire_nodest_conn': '1', 'net.ipv4.vs.sloppy_sctp': '1' });
});
