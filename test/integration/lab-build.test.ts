import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NetLab } from '../../src/rig/netns.js';
import { parseTopology } from '../../src/lab/topology.js';
import { buildTopology } from '../../src/lab/build.js';

const root = process.getuid?.() === 0;

test('lab: the shipped topology builds with namespaces; client reaches every node through the router', { skip: !root && 'needs root' }, async (t) => {
  const topo = parseTopology(readFileSync(new URL('../../lab/bgpvs.clab.yml', import.meta.url), 'utf8'));
  const lab = await NetLab.create('labbuild');
  t.after(() => lab.destroy());
  await buildTopology(lab, topo);
  assert.deepEqual([...lab.namespaces.keys()].sort(), ['client1', 'lan', 'node1', 'node2', 'node3', 'router1']);
  for (const node of topo.nodes.filter((n) => n.role === 'node')) {
    const r = await lab.exec('client1', ['ping', '-c', '1', '-W', '2', node.address!]);
    assert.match(r.stdout, /1 received/, `client1 -> ${node.name}`);
  }
  const hash = await lab.exec('router1', ['sysctl', '-n', 'net.ipv4.fib_multipath_hash_policy']);
  assert.equal(hash.stdout.trim(), '1');
});
