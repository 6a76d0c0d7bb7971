/** The manual clock the timing tests stand on: order, ties, promise chains between timers, runaway loops. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './fake-clock.js';

test('fake clock: due timers fire in time order (ties in the order set), each at its own instant; later ones wait', async () => {
  const c = new FakeClock(0);
  const fired: string[] = [];
  c.setTimeout(() => fired.push(`b@${c.now()}`), 20);
  c.setTimeout(() => fired.push(`a@${c.now()}`), 10);
  c.setTimeout(() => fired.push(`a2@${c.now()}`), 10);
  const late = c.setTimeout(() => fired.push('late'), 31);
  const cancelled = c.setTimeout(() => fired.push('cancelled'), 5);
  c.clearTimeout(cancelled);
  await c.advance(30);
  assert.deepEqual(fired, ['a@10', 'a2@10', 'b@20']);
  assert.equal(c.now(), 30);
  assert.deepEqual(c.pending(), [1]);
  c.clearTimeout(late);
  assert.deepEqual(c.pending(), []);
});

test('fake clock: a promise chain started by one timer runs before the next timer fires', async () => {
  const c = new FakeClock(0);
  const seen: string[] = [];
  c.setTimeout(async () => {
    for (let i = 0; i < 50; i++) await Promise.resolve();
    seen.push('chain done');
    c.setTimeout(() => seen.push(`rearmed@${c.now()}`), 5);
  }, 10);
  c.setTimeout(() => seen.push('second'), 12);
  await c.advance(20);
  assert.deepEqual(seen, ['chain done', 'second', 'rearmed@15']);
});

test('fake clock: a 0 ms timer loop fails instead of spinning', async () => {
  const c = new FakeClock(0);
  const loop = () => void c.setTimeout(loop, 0);
  loop();
  await assert.rejects(c.advance(1), /0 ms timer loop/);
});
