/** The pure repair decision for gobgpd's BFD/BGP reset loop, on an injected clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterRepair, backoffMs, DEFAULT_GUARD_POLICY as P, NEW_GUARD, observeState, repairDue, settle, type PeerGuard } from '../../src/bgp/session-guard.js';

/** Feed `[ms, state]` pairs in order. */
function feed(g: PeerGuard, seq: readonly (readonly [number, string])[]): PeerGuard {
  for (const [t, s] of seq) g = observeState(g, s, t);
  return g;
}

/** The reset-loop and back-off rules alone (no repair on every drop). */
const NO_DROP = { ...P, repairOnDrop: false };
const up = { state: 'established', bfdEnabled: true, bfd: 'up' } as const;
const idle = { state: 'idle', bfdEnabled: true, bfd: 'down' } as const;

/** The loop seen with BIRD: Established, reset at once, back 2.6 s later. */
function loop(from: number, cycles: number): [number, string][] {
  const out: [number, string][] = [];
  for (let i = 0; i < cycles; i++) {
    const t = from + i * 2600;
    out.push([t, 'active'], [t + 1000, 'openconfirm'], [t + 1000, 'established'], [t + 1001, 'idle']);
  }
  return out;
}

test('guard: drops are counted only when leaving Established', () => {
  const g = feed(NEW_GUARD, [[0, 'idle'], [10, 'active'], [20, 'idle'], [30, 'active']]);
  assert.deepEqual(g.drops, []);
  const g2 = feed(g, [[40, 'established'], [50, 'established'], [60, 'idle']]);
  assert.deepEqual(g2.drops, [60]);
  assert.equal(g2.establishedAt, undefined);
});

test('guard: the reset loop → resetLoop at the third drop within the window', () => {
  const table: { cycles: number; want: string | undefined }[] = [
    { cycles: 1, want: undefined },
    { cycles: 2, want: undefined },
    { cycles: 3, want: 'resetLoop' },
    { cycles: 10, want: 'resetLoop' },
  ];
  for (const { cycles, want } of table) {
    const g = feed(NEW_GUARD, loop(0, cycles));
    const now = (cycles - 1) * 2600 + 1100;
    assert.equal(repairDue(g, idle, now, NO_DROP), want, `${cycles} cycles`);
  }
});

test('guard: drops spread wider than the window do not count', () => {
  const seq: [number, string][] = [];
  for (let i = 0; i < 5; i++) seq.push([i * 20_000, 'established'], [i * 20_000 + 5000, 'idle']);
  const g = feed(NEW_GUARD, seq);
  assert.equal(repairDue(g, idle, 4 * 20_000 + 5001, NO_DROP), undefined);
});

test('guard: Established with BFD not Up past the grace → bfdNotUp; Up, disabled or unknown → nothing', () => {
  const g = feed(NEW_GUARD, [[0, 'established']]);
  assert.equal(repairDue(g, { ...up, bfd: 'down' }, P.bfdGraceMs - 1), undefined);
  assert.equal(repairDue(g, { ...up, bfd: 'down' }, P.bfdGraceMs), 'bfdNotUp');
  assert.equal(repairDue(g, { ...up, bfd: 'init' }, P.bfdGraceMs), 'bfdNotUp');
  assert.equal(repairDue(g, up, P.bfdGraceMs), undefined);
  assert.equal(repairDue(g, { state: 'established', bfdEnabled: false, bfd: 'down' }, P.bfdGraceMs), undefined);
  assert.equal(repairDue(g, { state: 'established', bfdEnabled: true }, P.bfdGraceMs), undefined);
});

test('guard: repairs back off after the quick ones (doubling, capped) and start over after a stable window', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 12].map((n) => backoffMs(n)), [0, 0, 0, 20_000, 40_000, 80_000, 300_000]);
  assert.deepEqual([0, 1, 2].map((n) => backoffMs(n, { ...P, quickRepairs: 0 })), [0, 20_000, 40_000], 'no quick repairs: the back-off starts after the first');
  const Q1 = { ...NO_DROP, quickRepairs: 1 };
  let g = feed(NEW_GUARD, loop(0, 3));
  let now = 2 * 2600 + 1100;
  assert.equal(repairDue(g, idle, now, Q1), 'resetLoop');
  g = afterRepair(g, now);
  // The loop goes on (the repair did not help): nothing until the back-off has passed.
  g = feed(g, loop(now + 100, 3));
  assert.equal(repairDue(g, idle, now + 10_000, Q1), undefined);
  g = feed(g, loop(now + 12_000, 4));
  assert.equal(repairDue(g, idle, now + 22_000, Q1), 'resetLoop');
  now += 22_000;
  g = afterRepair(g, now);
  assert.equal(g.repairs, 2);
  assert.equal(repairDue(feed(g, loop(now + 30_000, 3)), idle, now + 39_000, Q1), undefined, 'second back-off is 40 s');
  // Stable for a window: the count starts over.
  g = feed(g, [[now + 1000, 'established']]);
  assert.equal(settle(g, now + 1000 + P.windowMs - 1).repairs, 2);
  assert.equal(settle(g, now + 1000 + P.windowMs).repairs, 0);
});

test('guard: a BFD peer whose session dropped is re-created at once (sessionDown), once per drop', () => {
  // Router restart: Established, then down.
  let g = feed(NEW_GUARD, [[0, 'established'], [60_000, 'idle']]);
  assert.equal(repairDue(g, idle, 60_000), 'sessionDown');
  assert.equal(repairDue(g, { ...idle, state: 'active' }, 60_010), 'sessionDown');
  assert.equal(repairDue(g, { ...idle, bfdEnabled: false }, 60_000), undefined, 'only BFD peers (the stale reset is a BFD one)');
  assert.equal(repairDue(g, idle, 60_000, NO_DROP), undefined, 'off by policy');
  assert.equal(repairDue(feed(g, [[60_500, 'established']]), up, 60_500), undefined, 'back up before the pass: nothing to do');
  g = afterRepair(g, 60_010);
  assert.equal(repairDue(g, idle, 60_020), undefined, 'repaired: not again for the same drop');
  // The new peer's first session is reset too (FRR re-creates its BFD session): repaired at once again.
  g = feed(g, [[62_000, 'established'], [62_004, 'idle']]);
  assert.equal(repairDue(g, idle, 62_005), 'sessionDown');
});

test('guard: a link that keeps flapping → three quick repairs, then one per back-off, never more than one per drop', () => {
  let g: PeerGuard = NEW_GUARD;
  const at: number[] = [];
  // A session that comes up for 1 s every 2.5 s, for 5 minutes; the guard checks every 100 ms.
  for (let t = 0; t < 300_000; t += 100) {
    const phase = t % 2500;
    const state = phase >= 1000 && phase < 2000 ? 'established' : 'idle';
    g = observeState(g, state, t);
    g = settle(g, t);
    const why = repairDue(g, { state, bfdEnabled: true, bfd: 'down' }, t);
    if (why) {
      at.push(t);
      g = afterRepair(g, t);
    }
  }
  assert.deepEqual(at.slice(0, 3), [2000, 4500, 7000], 'the first three drops are repaired at once');
  const gaps = at.slice(3).map((t, i) => t - at[i + 2]!);
  assert.ok(gaps.every((d, i) => d >= backoffMs(i + 3)), `then backed off: ${JSON.stringify(gaps)}`);
  assert.ok(at.length <= 3 + 6, `bounded: ${at.length} repairs in 5 min`);
});

test('guard: a drop before the repair no longer counts after it', () => {
  let g = feed(NEW_GUARD, loop(0, 3));
  g = afterRepair(g, 8000);
  g = feed(g, loop(30_000, 2));
  assert.equal(repairDue(g, idle, 40_000, NO_DROP), undefined);
});
