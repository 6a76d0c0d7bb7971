/**
 * spec.loadBalancerSourceRanges in the nft data plane: a client inside the ranges reaches the
 * VIP, one outside does not; an unfiltered VIP answers both; ranges changed incrementally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab } from '../rig/netns.js';
import { run, spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import type { VirtualServer } from '../../src/model/types.js';

const root = process.getuid?.() === 0;
const skip = !root && 'needs root (network namespaces, nft)';

const vs = (vip: string, sourceRanges?: string[]): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [],
  persistenceSeconds: 0, forwarding: 'nat', services: ['default/web'],
  realServers: [{ address: '10.0.0.21', port: 8080, weight: 1, nodeName: 'node' }],
  ...(sourceRanges ? { sourceRanges } : {}),
});

test('nft source ranges: allowed client connects, refused client does not; unfiltered VIP open; incremental changes', { skip }, async (t) => {
  const lab = await NetLab.create('nftsrc');
  t.after(() => lab.destroy());
  await lab.addNs('node', { forwarding: true });
  for (const [i, c] of ['ca', 'cb'].entries()) {
    await lab.addNs(c);
    await lab.link(c, 'eth0', 'node', `c${i}`);
    await lab.addr(c, 'eth0', `10.${i + 1}.0.2/24`);
    await lab.addr('node', `c${i}`, `10.${i + 1}.0.1/24`);
    await lab.route(c, '10.100.0.0/24', ['via', `10.${i + 1}.0.1`]);
  }
  await lab.addNs('b1');
  await lab.link('b1', 'eth0', 'node', 'p1');
  await lab.addr('b1', 'eth0', '10.0.0.21/24');
  await lab.addr('node', 'p1', '10.0.0.1/24');
  await lab.route('b1', 'default', ['via', '10.0.0.1']);
  void spawnDaemon(['socat', 'TCP-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo b1'], { netns: lab.ns('b1') });
  await new Promise((r) => setTimeout(r, 300));

  const reach = async (client: string, vip: string): Promise<boolean> => {
    const res = await lab.exec(client, ['socat', '-T1', '-', `TCP:${vip}:80,connect-timeout=1`], { input: '', timeoutMs: 5000, allowFailure: true });
    return res.stdout.trim() === 'b1';
  };
  const matrix = async () => ({
    caFiltered: await reach('ca', '10.100.0.10'),
    cbFiltered: await reach('cb', '10.100.0.10'),
    caOpen: await reach('ca', '10.100.0.11'),
    cbOpen: await reach('cb', '10.100.0.11'),
  });

  const dp = new NftDataPlane({ run, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets: 31 });
  // 10.1.0.0/24 (client ca) allowed on .10; .11 has no ranges
  assert.equal((await dp.sync([vs('10.100.0.10', ['10.1.0.0/24', '192.0.2.0/24']), vs('10.100.0.11')])).mode, 'full');
  assert.deepEqual(await matrix(), { caFiltered: true, cbFiltered: false, caOpen: true, cbOpen: true });

  // ranges change: only cb allowed now (incremental element update)
  const r2 = await dp.sync([vs('10.100.0.10', ['10.2.0.0/24']), vs('10.100.0.11')]);
  assert.equal(r2.mode, 'incremental');
  assert.deepEqual(await matrix(), { caFiltered: false, cbFiltered: true, caOpen: true, cbOpen: true });

  // ranges present but none of the VIP's family: nobody (fail closed)
  await dp.sync([vs('10.100.0.10', []), vs('10.100.0.11')]);
  assert.deepEqual(await matrix(), { caFiltered: false, cbFiltered: false, caOpen: true, cbOpen: true });

  // ranges removed: open to both; the same state again is a no-op
  const r4 = await dp.sync([vs('10.100.0.10'), vs('10.100.0.11')]);
  assert.equal(r4.mode, 'incremental');
  assert.deepEqual(await matrix(), { caFiltered: true, cbFiltered: true, caOpen: true, cbOpen: true });
  assert.equal((await dp.sync([vs('10.100.0.10'), vs('10.100.0.11')])).mode, 'noop');
});
