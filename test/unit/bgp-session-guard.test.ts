/** The pure repair decision for gobgpd's BFD/BGP reset loop, on an injected clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterRepair, backoffMs, DEFAULT_GUARD_POLICY as P, NEW_GUARD, observeState, repairDue, settle, type PeerGuard } from '../../src/bgp/session-guard.js';

/** Feed `[ms, state]` pairs in order. */
function feed(g: PeerGuard, seq: readonly (readonly [number, string])[]): PeerGuard {
  for (const [t, s] of seq) g = observeState(g, s, t);
  return g;
}

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
    assert.equal(repairDue(g, idle, now), want, `${cycles} cycles`);
  }
});

test('guard: drops spread wider than the window do not count', () => {
  const seq: [number, string][] = [];
  for (let i = 0; i < 5; i++) seq.push([i * 20_000, 'established'], [i * 20_000 + 5000, 'idle']);
  const g = feed(NEW_GUARD, seq);
  assert.equal(repairDue(g, idle, 4 * 20_000 + 5001), undefined);
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

test('guard: repairs back off (doubling, capped) and the back-off starts over after a stable window', () => {
  assert.deepEqual([0, 1, 2, 3, 10].map((n) => backoffMs(n)), [0, 20_000, 40_000, 80_000, 300_000]);
  let g = feed(NEW_GUARD, loop(0, 3));
  let now = 2 * 2600 + 1100;
  assert.equal(repairDue(g, idle, now), 'resetLoop');
  g = afterRepair(g, now);
  // The loop goes on (the repair did not help): nothing until the back-off has passed.
  g = feed(g, loop(now + 100, 3));
  assert.equal(repairDue(g, idle, now + 10_000), undefined);
  g = feed(g, loop(now + 12_000, 4));
  assert.equal(repairDue(g, idle, now + 22_000), 'resetLoop');
  now += 22_000;
  g = afterRepair(g, now);
  assert.equal(g.repairs, 2);
  assert.equal(repairDue(feed(g, loop(now + 30_000, 3)), idle, now + 39_000), undefined, 'second back-off is 40 s');
  // Stable for a window: the count starts over.
  g = feed(g, [[now + 1000, 'established']]);
  assert.equal(settle(g, now + 1000 + P.windowMs - 1).repairs, 2);
  assert.equal(settle(g, now + 1000 + P.windowMs).repairs, 0);
});

test('guard: a drop before the repair no longer counts after it', () => {
  let g = feed(NEW_GUARD, loop(0, 3));
  g = afterRepair(g, 8000);
  g = feed(g, loop(30_000, 2));
  assert.equal(repairDue(g, idle, 40_000), undefined);
});
