import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketMapSize, fragmentOps } from '../../src/dataplane/nft/adapter.js';
import { collectMaps, isFragment, renderFragment, type Fragment } from '../../src/dataplane/nft/render.js';
import type { RealServer, VirtualServer } from '../../src/model/types.js';

const ctx = { nodeName: 'a', buckets: 5 };
const vs = (vip: string, realServers: RealServer[], extra: Partial<VirtualServer> = {}): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', services: ['x/y'], realServers, ...extra,
});
const rs = (address: string, nodeName = 'a', weight = 1): RealServer => ({ address, port: 8080, weight, nodeName });

function frags(list: VirtualServer[]): Map<string, Fragment> {
  return new Map(list.map((v) => renderFragment(v, ctx)).filter(isFragment).map((f) => [f.id, f]));
}
function refsOf(m: ReadonlyMap<string, Fragment>): Map<string, number> {
  const refs = new Map<string, number>();
  for (const f of m.values()) for (const [s, e] of f.sets) refs.set(`${f.table} ${s} ${e}`, (refs.get(`${f.table} ${s} ${e}`) ?? 0) + 1);
  return refs;
}

/** A stateful stand-in for our table: applies the statements, refusing what nft refuses. */
function applyStatements(kernel: Map<string, Map<string, string>>, statements: readonly string[]): void {
  for (const st of statements) {
    const m = /^(delete|add) element (inet|netdev) (\S+) (\S+) \{ (.*) \}$/.exec(st);
    assert.ok(m, `statement shape: ${st}`);
    const [, verb, family, , set, body] = m;
    const els = kernel.get(`${family} ${set}`);
    assert.ok(els, `set ${set} exists`);
    for (const item of body!.split(', ')) {
      const [k, v = ''] = item.split(' : ');
      if (verb === 'delete') assert.ok(els.delete(k!), `delete of a missing element ${k} in ${set}`);
      else {
        assert.ok(!els.has(k!), `add of an existing element ${k} in ${set} (nft would keep the old value)`);
        els.set(k!, v);
      }
    }
  }
}
const kernelOf = (m: ReadonlyMap<string, Fragment>) =>
  new Map(collectMaps([...m.values()], false).map((x) => [`${x.table} ${x.name}`, new Map(x.elements)]));

test('nft element ops: every step brings the table to what a full render holds; a second pass is empty', () => {
  const steps: [string, VirtualServer[]][] = [
    ['start', [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.1', 'b')]), vs('10.100.0.2', [rs('10.244.2.1', 'b')])]],
    ['one backend changes', [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.2', 'b')]), vs('10.100.0.2', [rs('10.244.2.1', 'b')])]],
    ['a shared remote address leaves one service only', [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.1', 'b')]), vs('10.100.0.2', [rs('10.244.2.1', 'b')])]],
    ['a service goes, its remote address stays for the other', [vs('10.100.0.2', [rs('10.244.2.1', 'b')])]],
    ['a service comes, affinity; the other becomes local-only', [vs('10.100.0.2', [rs('10.244.1.9')]), vs('10.100.0.3', [rs('10.244.3.1', 'c')], { persistenceSeconds: 60 })]],
    ['affinity off', [vs('10.100.0.2', [rs('10.244.1.9')]), vs('10.100.0.3', [rs('10.244.3.1', 'c')])]],
    ['all backends drained: skipped, removed', [vs('10.100.0.2', [rs('10.244.1.9', 'a', 0)]), vs('10.100.0.3', [rs('10.244.3.1', 'c')])]],
    ['empty', []],
  ];
  let applied = new Map<string, Fragment>();
  let refs = new Map<string, number>();
  const kernel = kernelOf(applied);
  for (const [name, list] of steps) {
    const want = frags(list);
    const nextRefs = new Map(refs);
    const ops = fragmentOps(applied, want, nextRefs);
    applyStatements(kernel, ops);
    assert.deepEqual(kernel, kernelOf(want), `${name}: kernel equals a full render`);
    assert.deepEqual(nextRefs, refsOf(want), `${name}: reference counts`);
    applied = want;
    refs = nextRefs;
    assert.deepEqual(fragmentOps(applied, frags(list), new Map(refs)), [], `${name}: same content again → no statement`);
  }
});

test('nft element ops: one backend of 10 replaced touches only the buckets that moved, one statement per set', () => {
  const ten = (x: number) => Array.from({ length: 10 }, (_, i) => rs(`10.244.${i === 3 ? x : 1}.${i + 1}`, i === 3 ? 'b' : 'a'));
  const big = { nodeName: 'a', buckets: 31 };
  const f = (x: number) => {
    const r = renderFragment(vs('10.100.0.1', ten(x)), big);
    assert.ok(isFragment(r));
    return new Map([[r.id, r]]);
  };
  const before = f(2);
  const ops = fragmentOps(before, f(9), refsOf(before));
  assert.deepEqual(ops.map((o) => o.split(' {')[0]), [
    'delete element inet bgpvs remote4',
    'delete element inet bgpvs be4',
    'add element inet bgpvs remote4',
    'add element inet bgpvs be4',
  ]);
  const moved = ops[1]!.split(', ').length;
  // Maglev keeps most buckets (at M=31, N=10 about a third move; M/N at best)
  assert.ok(moved >= 3 && moved < 31, `only the buckets that moved: ${moved}`);
  assert.match(ops[0]!, /\{ 10\.244\.2\.4 \}/);
  assert.match(ops[2]!, /\{ 10\.244\.9\.4 \}/);
});

test('nft bucket map size: room to double, a power of two, never below the minimum', () => {
  assert.deepEqual([0, 1, 52, 64, 65, 310_000].map((n) => bucketMapSize(n, 64)), [64, 64, 128, 128, 256, 1_048_576]);
  assert.equal(bucketMapSize(10), 65536);
});

test('nft element ops: bucket element counts follow the change', () => {
  const before = frags([vs('10.100.0.1', [rs('10.244.1.1')]), vs('10.100.0.2', [rs('10.244.1.2')])]);
  const counts = new Map([['inet be4', 10]]);
  fragmentOps(before, frags([vs('10.100.0.2', [rs('10.244.1.2')]), vs('10.100.0.3', [rs('10.244.1.3')]), vs('10.100.0.4', [rs('10.244.1.4')])]), refsOf(before), counts);
  assert.deepEqual(counts, new Map([['inet be4', 15]]), 'one service of 5 buckets gone, two come');
});
