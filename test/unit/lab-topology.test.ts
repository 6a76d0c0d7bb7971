import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTopology } from '../../lab/topology.js';
import { ConfigError } from '../../src/errors.js';

const shipped = readFileSync(new URL('../../lab/bgpvs.clab.yml', import.meta.url), 'utf8');

test('lab topology: the shipped file parses into roles, ASNs, addresses and links', () => {
  const t = parseTopology(shipped);
  assert.equal(t.name, 'bgpvs');
  const byName = new Map(t.nodes.map((n) => [n.name, n]));
  assert.equal(byName.get('router1')?.role, 'router');
  assert.equal(byName.get('router1')?.asn, 64512);
  assert.equal(byName.get('router1')?.frrConfig, 'routers/router1/frr.conf');
  assert.equal(byName.get('lan')?.role, 'bridge');
  const nodes = t.nodes.filter((n) => n.role === 'node');
  assert.deepEqual(nodes.map((n) => [n.name, n.asn, n.address, n.podCidr]), [
    ['node1', 65001, '10.0.0.11', '10.244.1.0/24'],
    ['node2', 65002, '10.0.0.12', '10.244.2.0/24'],
    ['node3', 65003, '10.0.0.13', '10.244.3.0/24'],
  ]);
  assert.equal(byName.get('client1')?.address, '192.168.100.10');
  assert.deepEqual(t.links[0], { a: { node: 'router1', iface: 'eth1' }, b: { node: 'lan', iface: 'r1' } });
  assert.deepEqual(byName.get('node1')?.exec[0], ['ip', 'addr', 'add', '10.0.0.11/24', 'dev', 'eth1']);
});

const bad: Array<[string, string, RegExp]> = [
  ['missing role', 'name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n', /bgpvs.io\/role/],
  ['node without asn', 'name: x\ntopology:\n  nodes:\n    a: {kind: linux, labels: {bgpvs.io/role: node}}\n', /asn/],
  ['bad pod cidr', 'name: x\ntopology:\n  nodes:\n    a: {kind: linux, labels: {bgpvs.io/role: node, bgpvs.io/asn: "1", bgpvs.io/pod-cidr: nope}}\n', /not a CIDR/],
  ['link to unknown node', 'name: x\ntopology:\n  nodes:\n    a: {kind: bridge}\n  links:\n    - endpoints: ["a:p1", "b:eth1"]\n', /bad endpoint b:eth1/],
  ['endpoint used twice', 'name: x\ntopology:\n  nodes:\n    a: {kind: bridge}\n    b: {kind: bridge}\n  links:\n    - endpoints: ["a:p1", "b:p1"]\n    - endpoints: ["a:p1", "b:p2"]\n', /used twice/],
  ['shell syntax in exec', 'name: x\ntopology:\n  nodes:\n    a: {kind: linux, labels: {bgpvs.io/role: client}, exec: ["echo hi; rm -rf /"]}\n', /shell syntax/],
  ['interface name too long', 'name: x\ntopology:\n  nodes:\n    a: {kind: bridge}\n    b: {kind: bridge}\n  links:\n    - endpoints: ["a:averyveryverylongname", "b:p1"]\n', /bad interface name/],
];
for (const [name, text, re] of bad) {
  test(`lab topology rejects: ${name}`, () => {
    assert.throws(() => parseTopology(text), (err: unknown) => err instanceof ConfigError && re.test(err.message));
  });
}
