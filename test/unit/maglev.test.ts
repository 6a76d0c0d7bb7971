/** Maglev table: stable hash, determinism (also across processes), balance, weights, disruption on removal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { fnv1a32, stableHash32 } from '../../src/maglev/hash.js';
import { buildMaglevTable, isPrime, maglevLookup, MAGLEV_DEFAULT_SIZE, MAGLEV_SMALL_SIZE, type MaglevBackend, type MaglevTable } from '../../src/maglev/table.js';

const M = MAGLEV_DEFAULT_SIZE;
const named = (n: number, prefix = '10.1.0.', port = 8080) => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}:${port}` }));
const counts = (t: MaglevTable) => {
  const c = new Map<string, number>(t.backends.map((b) => [b, 0]));
  for (const s of t.slots) c.set(t.backends[s]!, c.get(t.backends[s]!)! + 1);
  return c;
};
/** Slots that changed owner from a to b, not counting those a gave to `removed`. */
const extraMoves = (a: MaglevTable, b: MaglevTable, removed: string) => {
  let extra = 0;
  for (let s = 0; s < a.size; s++) {
    const before = a.backends[a.slots[s]!];
    if (before !== removed && before !== b.backends[b.slots[s]!]) extra++;
  }
  return extra;
};

test('maglev hash: FNV-1a matches its published vectors; seeds give independent hashes', () => {
  const e = new TextEncoder();
  assert.deepEqual([fnv1a32(e.encode('')), fnv1a32(e.encode('a')), fnv1a32(e.encode('foobar'))], [0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
  assert.equal(stableHash32('10.0.0.1:80'), 0xd8598d57);
  assert.equal(stableHash32('10.0.0.1:80', 1), 0x98c7c1cb);
  assert.equal(stableHash32(e.encode('10.0.0.1:80')), stableHash32('10.0.0.1:80'));
});

test('maglev: isPrime', () => {
  assert.deepEqual([2, 3, 13, 251, 65537].map(isPrime), [true, true, true, true, true]);
  assert.deepEqual([0, 1, 4, 65535, 65536, 2.5].map(isPrime), [false, false, false, false, false, false]);
});

test('maglev: same table whatever the input order; golden checksums pin it across versions', () => {
  const bs: MaglevBackend[] = [{ name: '10.0.0.1:80' }, { name: '10.0.0.2:80', weight: 2 }, { name: '[fd00::1]:80' }];
  const want = buildMaglevTable(bs, MAGLEV_SMALL_SIZE);
  assert.deepEqual(want.backends, ['10.0.0.1:80', '10.0.0.2:80', '[fd00::1]:80']);
  assert.equal(stableHash32(want.slots.join(',')), 0x1b408cad);
  fc.assert(fc.property(fc.shuffledSubarray(bs, { minLength: 3 }), (s) => assert.deepEqual(buildMaglevTable(s, MAGLEV_SMALL_SIZE), want)), { numRuns: 20, seed: 1 });
  assert.equal(stableHash32(buildMaglevTable(named(10, '10.0.0.', 80)).slots.join(',')), 0xb475dc5e);
});

test('maglev: another process builds the identical table', () => {
  const mod = fileURLToPath(new URL('../../src/maglev/table.ts', import.meta.url));
  const script = `import { buildMaglevTable } from ${JSON.stringify(mod)};
    const t = buildMaglevTable(Array.from({ length: 10 }, (_, i) => ({ name: '10.0.0.' + i + ':80' })));
    process.stdout.write(t.slots.join(','));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  // compare checksums: a failure message of two 65537-slot tables helps no one
  assert.equal(stableHash32(out), stableHash32(buildMaglevTable(named(10, '10.0.0.', 80)).slots.join(',')));
});

test('maglev: equal weights share the table within one slot (M = 65537)', () => {
  for (const n of [1, 3, 7, 20, 100]) {
    const c = [...counts(buildMaglevTable(named(n))).values()];
    assert.equal(c.reduce((a, b) => a + b, 0), M);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1, `n=${n}: ${Math.min(...c)}..${Math.max(...c)}`);
  }
});

test('maglev: every slot of a small table is filled with a valid backend', () => {
  const t = buildMaglevTable(named(5), 13);
  assert.equal(t.slots.length, 13);
  for (const s of t.slots) assert.ok(s >= 0 && s < 5);
});

test('maglev: weights are respected within 0.1% of the table', () => {
  const bs = [
    { name: 'a', weight: 1 },
    { name: 'b', weight: 2 },
    { name: 'c', weight: 3 },
    { name: 'd', weight: 4 },
    { name: 'e', weight: 0 },
  ];
  const c = counts(buildMaglevTable(bs));
  for (const b of bs) {
    const want = (M * b.weight) / 10;
    assert.ok(Math.abs(c.get(b.name)! - want) <= M * 0.001, `${b.name}: ${c.get(b.name)} vs ${want}`);
  }
  assert.equal(c.get('e'), 0);
});

test('maglev: no backend with weight → every slot -1, lookups find nothing', () => {
  const t = buildMaglevTable([{ name: 'a', weight: 0 }], 13);
  assert.deepEqual([...t.slots], new Array(13).fill(-1));
  assert.equal(maglevLookup(t, 12345), undefined);
  assert.equal(maglevLookup(buildMaglevTable([], 13), 1), undefined);
});

test('maglev: lookup maps a flow hash to its slot owner', () => {
  const t = buildMaglevTable(named(3), 13);
  for (let h = 0; h < 26; h++) assert.equal(maglevLookup(t, h), t.backends[t.slots[h % 13]!]);
});

// Removing a backend moves all of its slots and, since Maglev is not minimally disruptive, a
// few others. Measured worst case over every removal: n=10 0.24% of M, n=50 2.5%, n=100 1.6%.
test('maglev: removing one of 10 backends moves its own slots plus < 1% of M', () => {
  const bs = named(10);
  const a = buildMaglevTable(bs);
  for (const gone of bs) {
    const b = buildMaglevTable(bs.filter((x) => x !== gone));
    assert.ok(!b.backends.includes(gone.name));
    const extra = extraMoves(a, b, gone.name);
    assert.ok(extra < M * 0.01, `removing ${gone.name} moved ${extra} extra slots`);
  }
});

test('maglev: removing one of 100 backends moves its own slots plus < 3% of M', () => {
  const bs = named(100);
  const a = buildMaglevTable(bs);
  for (const i of [0, 13, 37, 64, 99]) {
    const gone = bs[i]!;
    const extra = extraMoves(a, buildMaglevTable(bs.filter((x) => x !== gone)), gone.name);
    assert.ok(extra < M * 0.03, `removing ${gone.name} moved ${extra} extra slots`);
  }
});

test('maglev: invalid input is a programming error (RangeError)', () => {
  assert.throws(() => buildMaglevTable(named(3), 65536), /must be prime/);
  assert.throws(() => buildMaglevTable([{ name: 'a' }, { name: 'a' }], 13), /duplicate backend/);
  assert.throws(() => buildMaglevTable([{ name: 'a', weight: 1.5 }], 13), /weight of a/);
  assert.throws(() => buildMaglevTable(named(14), 13), /do not fit/);
});
