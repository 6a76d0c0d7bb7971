import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NetLab } from '../rig/netns.js';
import { parseTopology } from '../../lab/topology.js';
import { buildTopology } from '../../lab/build.js';

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

test('lab: pods on per-node bridges reach each other across nodes; the responder names itself and the client', { skip: !root && 'needs root' }, async (t) => {
  const { setupPodNetwork, addPod, startResponder } = await import('../../lab/pods.js');
  const topo = parseTopology(readFileSync(new URL('../../lab/bgpvs.clab.yml', import.meta.url), 'utf8'));
  const lab = await NetLab.create('labpods');
  t.after(() => lab.destroy());
  await buildTopology(lab, topo);
  const nodes = topo.nodes.filter((n) => n.role === 'node');
  await setupPodNetwork(lab, nodes);
  const a = await addPod(lab, nodes[0]!, 1);
  const b = await addPod(lab, nodes[1]!, 1);
  await startResponder(lab, b, 8080);
  let answer = '';
  for (let i = 0; i < 50 && !answer; i++) {
    const r = await lab.exec(a.ns, ['socat', '-T', '2', 'STDIO', `TCP:${b.ip}:8080,connect-timeout=1`], { allowFailure: true, input: '' });
    answer = r.stdout.trim();
    if (!answer) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(answer, `${b.name} ${a.ip}`);
  const udp = await lab.exec(a.ns, ['socat', '-T', '2', 'STDIO', `UDP:${b.ip}:8080`], { input: 'x\n' });
  assert.equal(udp.stdout.trim(), `${b.name} ${a.ip}`);
});
