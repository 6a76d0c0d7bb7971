import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { NetLab } from '../rig/netns.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import type { VirtualServer } from '../../src/model/types.js';

const root = process.getuid?.() === 0;
const skip = !root && 'needs root (network namespaces, nft)';

test('nft: golden scripts are accepted by the real binary (nft -c -f)', { skip }, async () => {
  for (const g of ['nft-nat-dr.nft', 'nft-nat-only.nft', 'nft-nat-cluster-dsr.nft']) {
    await run(['nft', '-c', '-f', fileURLToPath(new URL(`../unit/golden/${g}`, import.meta.url))]);
  }
});

const vs = (backends: string[]): VirtualServer => ({
  vip: '10.100.0.10', protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [],
  persistenceSeconds: 0, forwarding: 'nat', services: ['default/web'],
  realServers: backends.map((address) => ({ address, port: 8080, weight: 1, nodeName: 'node' })),
});

test('nft DNAT: real TCP through the node to two backends; idempotent; element-level update; foreign table survives', { skip }, async (t) => {
  const lab = await NetLab.create('nftnat');
  t.after(() => lab.destroy());
  await lab.addNs('client');
  await lab.addNs('node', { forwarding: true });
  await lab.link('client', 'eth0', 'node', 'eth0');
  await lab.addr('client', 'eth0', '10.1.0.2/24');
  await lab.addr('node', 'eth0', '10.1.0.1/24');
  await lab.route('client', '10.100.0.0/24', ['via', '10.1.0.1']);
  const backends = ['b1', 'b2'];
  for (const [i, b] of backends.entries()) {
    await lab.addNs(b);
    await lab.link(b, 'eth0', 'node', `p${i + 1}`);
  }
  await lab.bridge('node', 'br0', ['p1', 'p2']);
  await lab.addr('node', 'br0', '10.0.0.1/24');
  for (const [i, b] of backends.entries()) {
    await lab.addr(b, 'eth0', `10.0.0.2${i + 1}/24`);
    await lab.route(b, 'default', ['via', '10.0.0.1']);
    void spawnDaemon(['socat', 'TCP-LISTEN:8080,fork,reuseaddr', `SYSTEM:echo ${b}`], { netns: lab.ns(b) });
  }
  // a table someone else owns
  await lab.exec('node', ['nft', 'add', 'table', 'inet', 'foreign']);
  await lab.exec('node', ['nft', 'add', 'chain', 'inet', 'foreign', 'c']);

  const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets: 31 });
  const desired = [vs(['10.0.0.21', '10.0.0.22'])];
  assert.equal((await dp.sync(desired)).mode, 'full');
  const again = await dp.sync(desired);
  assert.deepEqual([again.mode, again.operations], ['noop', 0], 'second pass with the same state is a no-op');

  const seen = new Map<string, number>();
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 30; i++) {
    const res = await lab.exec('client', ['socat', '-T2', '-', `TCP:10.100.0.10:80,sourceport=${41000 + i}`], { input: '', timeoutMs: 5000 });
    const who = res.stdout.trim();
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['b1', 'b2'], `both backends answer: ${JSON.stringify([...seen])}`);

  // one backend changes: only map elements are touched
  const changed = [vs(['10.0.0.21'])];
  const inc = await dp.sync(changed);
  assert.equal(inc.mode, 'incremental');
  assert.ok(inc.operations > 0);
  assert.equal((await dp.sync(changed)).mode, 'noop');
  for (let i = 0; i < 5; i++) {
    const res = await lab.exec('client', ['socat', '-T2', '-', `TCP:10.100.0.10:80,sourceport=${42000 + i}`], { input: '', timeoutMs: 5000 });
    assert.equal(res.stdout.trim(), 'b1');
  }
  const listed = await dp.list();
  assert.deepEqual(listed.map((v) => [v.vip, v.port, v.realServers.map((r) => r.address)]), [['10.100.0.10', 80, ['10.0.0.21']]]);

  const tables = await lab.exec('node', ['nft', 'list', 'tables']);
  assert.match(tables.stdout, /table inet foreign/, 'a foreign table survives our syncs');
});
