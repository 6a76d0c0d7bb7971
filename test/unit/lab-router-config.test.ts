import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTopology } from '../../lab/topology.js';
import { labBirdConfig, labRouterConfig, labRouterConfigFile } from '../../lab/router-config.js';
import { renderBirdConfig } from '../../test/rig/bird-router.js';

const topo = parseTopology(readFileSync(new URL('../../lab/bgpvs.clab.yml', import.meta.url), 'utf8'));

test('lab router config: one BFD-enabled eBGP neighbour per node, ECMP with multipath-relax', () => {
  const c = labRouterConfig(topo, 'router1');
  assert.equal(c.asn, 64512);
  assert.deepEqual(c.neighbors.map((n) => [n.address, n.asn, n.bfd]), [
    ['10.0.0.11', 65001, true],
    ['10.0.0.12', 65002, true],
    ['10.0.0.13', 65003, true],
  ]);
  assert.deepEqual(c.multipath, { relax: true, maxPaths: 16 });
});

test('lab router config: the file committed for containerlab is the rendered config', () => {
  const committed = readFileSync(new URL('../../lab/routers/router1/frr.conf', import.meta.url), 'utf8');
  assert.equal(committed, labRouterConfigFile(topo, 'router1'), 'regenerate lab/routers/router1/frr.conf from labRouterConfigFile()');
});

test('lab router config: weighted ECMP stays on (FRR honours link-bandwidth unless told `bgp bestpath bandwidth ignore`)', () => {
  assert.equal(labRouterConfig(topo, 'router1').bandwidth, undefined);
  assert.doesNotMatch(labRouterConfigFile(topo, 'router1'), /^\s*bgp bestpath bandwidth/m);
});

test('lab router config: graceful restart towards the nodes (their peers enable it too)', () => {
  assert.deepEqual(labRouterConfig(topo, 'router1').extraBgpLines, ['bgp graceful-restart']);
  assert.match(labRouterConfigFile(topo, 'router1'), /^ bgp graceful-restart$/m);
});

test('lab router as BIRD: one session per node with BFD 100 ms x 3 and graceful restart, ECMP into the kernel', () => {
  const c = labBirdConfig(topo, 'router1');
  assert.equal(c.asn, 64512);
  assert.deepEqual(c.bfd, { minRxMs: 100, minTxMs: 100, multiplier: 3 });
  assert.deepEqual(c.neighbors.map((n) => [n.address, n.asn, n.bfd, n.gracefulRestart?.restartTimeSeconds]), [
    ['10.0.0.11', 65001, true, 120],
    ['10.0.0.12', 65002, true, 120],
    ['10.0.0.13', 65003, true, 120],
  ]);
  const text = renderBirdConfig(c);
  assert.match(text, /protocol bgp node1 \{[^}]*bfd on;\n {2}graceful restart on;\n {2}graceful restart time 120;/);
  assert.match(text, /min rx interval 100 ms; min tx interval 100 ms; multiplier 3;/);
  assert.match(text, /merge paths on;/);
});
