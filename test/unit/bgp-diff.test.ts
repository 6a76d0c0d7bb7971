/** wanted vs listed paths → add / replace / delete: table-driven, plus convergence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffPaths, isEmptyDiff } from '../../src/bgp/diff.js';
import type { PathSpec } from '../../src/bgp/paths.js';

const p = (prefix: string, extra: Partial<PathSpec> = {}): PathSpec => ({
  prefix,
  family: 'IPv4',
  nextHop: '10.0.0.11',
  communities: [],
  largeCommunities: ['65011:4242:1'],
  ...extra,
});

test('diffPaths: table', () => {
  const cases: { name: string; wanted: PathSpec[]; actual: PathSpec[]; add: string[]; replace: string[]; del: string[] }[] = [
    { name: 'empty', wanted: [], actual: [], add: [], replace: [], del: [] },
    { name: 'add all', wanted: [p('192.0.2.2/32'), p('192.0.2.1/32')], actual: [], add: ['192.0.2.1/32', '192.0.2.2/32'], replace: [], del: [] },
    { name: 'delete all', wanted: [], actual: [p('192.0.2.1/32')], add: [], replace: [], del: ['192.0.2.1/32'] },
    { name: 'in sync', wanted: [p('192.0.2.1/32')], actual: [p('192.0.2.1/32')], add: [], replace: [], del: [] },
    {
      name: 'community change = re-add',
      wanted: [p('192.0.2.1/32', { communities: ['1:1'] })],
      actual: [p('192.0.2.1/32')],
      add: [],
      replace: ['192.0.2.1/32'],
      del: [],
    },
    { name: 'local-pref change', wanted: [p('192.0.2.1/32', { localPref: 0 })], actual: [p('192.0.2.1/32', { localPref: 100 })], add: [], replace: ['192.0.2.1/32'], del: [] },
    { name: 'next-hop change', wanted: [p('192.0.2.1/32')], actual: [p('192.0.2.1/32', { nextHop: '10.0.0.12' })], add: [], replace: ['192.0.2.1/32'], del: [] },
    {
      name: 'mixed',
      wanted: [p('192.0.2.1/32'), p('192.0.2.3/32', { localPref: 5 })],
      actual: [p('192.0.2.2/32'), p('192.0.2.3/32')],
      add: ['192.0.2.1/32'],
      replace: ['192.0.2.3/32'],
      del: ['192.0.2.2/32'],
    },
  ];
  for (const c of cases) {
    const d = diffPaths(c.wanted, c.actual);
    assert.deepEqual(d.add.map((x) => x.prefix), c.add, `${c.name}: add`);
    assert.deepEqual(d.replace.map((x) => x.prefix), c.replace, `${c.name}: replace`);
    assert.deepEqual(d.delete.map((x) => x.prefix), c.del, `${c.name}: delete`);
  }
});

test('applying the diff converges: a second diff is empty', () => {
  const wanted = [p('192.0.2.1/32'), p('192.0.2.3/32', { localPref: 5 }), p('192.0.2.4/32', { communities: ['65535:0'] })];
  const actual = new Map([p('192.0.2.2/32'), p('192.0.2.3/32'), p('192.0.2.4/32')].map((x) => [x.prefix, x]));
  const d = diffPaths(wanted, [...actual.values()]);
  for (const x of [...d.add, ...d.replace]) actual.set(x.prefix, x);
  for (const x of d.delete) actual.delete(x.prefix);
  assert.ok(isEmptyDiff(diffPaths(wanted, [...actual.values()])));
});
