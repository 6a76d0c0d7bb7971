/**
 * The nft adapter's passes against the real binary and kernel: after every pass, full or
 * element-level, the kernel holds exactly what a full render of the desired state holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab } from '../rig/netns.js';
import { run } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import { renderNft, type DrContext } from '../../src/dataplane/nft/render.js';
import type { RealServer, VirtualServer } from '../../src/model/types.js';

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, nft)';

const vs = (vip: string, realServers: RealServer[], extra: Partial<VirtualServer> = {}): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: vip.includes(':') ? 'IPv6' : 'IPv4', scheduler: 'mh', schedulerFlags: [],
  persistenceSeconds: 0, forwarding: 'nat', services: ['x/y'], realServers, ...extra,
});
const rs = (address: string, nodeName = 'node', port = 8080): RealServer => ({ address, port, weight: 1, nodeName });

test('nft adapter: element-level passes keep the kernel equal to a full render; refused update, structure change and timer replace the tables', { skip }, async (t) => {
  const lab = await NetLab.create('nftinc');
  t.after(() => lab.destroy());
  await lab.addNs('node');
  await lab.exec('node', ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
  await lab.exec('node', ['nft', '-f', '-'], { input: 'table inet foreign {\n set be4 { type ipv4_addr; elements = { 192.0.2.1 } }\n}\n' });
  let dr: DrContext = { device: 'eth0', deviceMac: '02:00:00:00:00:01', backendMacs: new Map([['10.0.0.21', '02:00:00:00:00:21'], ['10.0.0.22', '02:00:00:00:00:22']]) };
  let clock = 1_000_000;
  const dp = new NftDataPlane({
    run, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets: 13,
    drContext: async () => dr, fullResyncMs: 60_000, now: () => clock, minMapSize: 64,
  });

  const kernelEqualsRender = async (desired: VirtualServer[], what: string) => {
    const want = renderNft({ virtualServers: desired, nodeName: 'node', buckets: 13, dr });
    const kernel = await dp.readKernel();
    assert.deepEqual(kernel, new Map(want.maps.map((m) => [`${m.table} ${m.name}`, new Map(m.elements)])), what);
  };
  const pass = async (desired: VirtualServer[], mode: 'full' | 'incremental' | 'noop', what: string) => {
    const r = await dp.sync(desired);
    assert.equal(r.mode, mode, `${what}: mode`);
    await kernelEqualsRender(desired, what);
    assert.deepEqual([(await dp.sync(desired)).mode], ['noop'], `${what}: a second pass is a no-op`);
  };

  const drVs = (macs: string[]) => vs('10.100.0.20', macs.map((a) => rs(a, 'node', 80)), { forwarding: 'dr' });
  let desired = [
    vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.1', 'other')]),
    vs('10.100.0.2', [rs('10.244.2.1', 'other'), rs('10.244.2.2', 'other')], { persistenceSeconds: 60 }),
    vs('2001:db8::1', [rs('2001:db8:1::1'), rs('2001:db8:2::1', 'other')]),
    drVs(['10.0.0.21', '10.0.0.22']),
  ];
  await pass(desired, 'full', 'first pass');

  desired = [...desired];
  desired[0] = vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.1.2')]); // its remote backend goes: no longer marked
  await pass(desired, 'incremental', 'one backend replaced');
  desired = [...desired, vs('10.100.0.3', [rs('10.244.3.1', 'third')], { protocol: 'UDP', port: 53 })];
  await pass(desired, 'incremental', 'a UDP service added');
  desired = desired.filter((v) => v.vip !== '10.100.0.2');
  await pass(desired, 'incremental', 'a service with affinity removed; its remote addresses go');
  desired = desired.map((v) => (v.forwarding === 'dr' ? drVs(['10.0.0.21']) : v));
  await pass(desired, 'incremental', 'a DR backend removed');

  // someone removes our table: the element update is refused and the pass replaces the tables
  await lab.exec('node', ['nft', 'delete', 'table', 'inet', 'bgpvs']);
  desired = [...desired, vs('10.100.0.4', [rs('10.244.1.4')])];
  await pass(desired, 'full', 'after our table was removed behind our back');

  dr = { ...dr, deviceMac: '02:00:00:00:00:02' };
  await pass(desired, 'full', 'the DR device MAC changes the chains');

  clock += 60_000;
  await pass(desired, 'full', 'the resync timer');

  // be4 holds 3 x 13 elements, declared with room for 128: ten more services (130) do not fit
  const before = desired;
  desired = [...desired, ...Array.from({ length: 10 }, (_, i) => vs(`10.100.1.${i}`, [rs('10.244.1.1')]))];
  await pass(desired, 'full', 'more elements than the map was declared for');
  desired = before;
  await pass(desired, 'incremental', 'back down: elements removed');

  const tables = await lab.exec('node', ['nft', 'list', 'table', 'inet', 'foreign']);
  assert.match(tables.stdout, /192\.0\.2\.1/, 'a foreign table survives, elements and all');

  const listed = await dp.list();
  assert.deepEqual(
    listed.map((v) => [v.forwarding, v.vip, v.protocol, v.port, v.realServers.map((r) => r.address)]).sort(),
    [
      ['dr', '10.100.0.20', 'TCP', 80, ['02:00:00:00:00:21']],
      ['nat', '10.100.0.1', 'TCP', 80, ['10.244.1.1', '10.244.1.2']],
      ['nat', '10.100.0.3', 'UDP', 53, ['10.244.3.1']],
      ['nat', '10.100.0.4', 'TCP', 80, ['10.244.1.4']],
      ['nat', '2001:db8::1', 'TCP', 80, ['2001:db8:1::1', '2001:db8:2::1']],
    ],
  );
});
