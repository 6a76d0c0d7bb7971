import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReconcileLoop, type PassResult } from '../../src/reconcile/loop.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from './fake-clock.js';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

test('loop: triggers during a pass coalesce into exactly one more pass; passes never overlap', async () => {
  const reasons: string[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const first = gate();
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 0,
    clock: new FakeClock(),
    pass: async (reason): Promise<PassResult> => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      reasons.push(reason);
      if (reasons.length === 1) await first.p;
      concurrent--;
      return { failures: [] };
    },
  });
  loop.start();
  for (let i = 0; i < 50; i++) loop.trigger(`ev${i}`);
  first.open();
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'ev0']);
  assert.equal(maxConcurrent, 1);
});

test('loop: a failed pass is retried with exponential backoff, reset after success', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const outcomes: string[] = [];
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 0,
    clock,
    backoff: { initialMs: 100, maxMs: 350 },
    onPass: (o) => outcomes.push(o),
    pass: async () => ({ failures: ++calls <= 4 ? [new Error(`boom ${calls}`)] : [] }),
  });
  loop.start();
  await loop.idle();
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    delays.push(clock.pending()[0]!);
    await clock.advance(clock.pending()[0]!);
    await loop.idle();
  }
  assert.deepEqual(delays, [100, 200, 350, 350]);
  assert.deepEqual(outcomes, ['failed', 'failed', 'failed', 'failed', 'ok']);
  assert.deepEqual(clock.pending(), [], 'no retry after success');
});

test('loop: a thrown error counts as a failure, and all failures of a pass are kept', async () => {
  const results: PassResult[] = [];
  const clock = new FakeClock();
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 0,
    clock,
    onPass: (_o, _ms, r) => results.push(r),
    pass: async (reason) => {
      if (reason === 'start') throw new Error('thrown');
      return { failures: [new Error('a'), new Error('b')] };
    },
  });
  loop.start();
  await loop.idle();
  await clock.advance(clock.pending()[0]!);
  await loop.idle();
  assert.deepEqual(results.map((r) => r.failures.map((e) => e.message)), [['thrown'], ['a', 'b']]);
  loop.stop();
});

test('loop: events while a retry waits out its backoff do not run passes; they ride on the retry', async () => {
  const clock = new FakeClock();
  const reasons: string[] = [];
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 0,
    clock,
    backoff: { initialMs: 1000, maxMs: 1000 },
    pass: async (r) => {
      reasons.push(r);
      return { failures: reasons.length === 1 ? [new Error('down')] : [] };
    },
  });
  loop.start();
  await loop.idle();
  for (let i = 0; i < 20; i++) loop.trigger(`ev${i}`);
  await loop.idle();
  assert.deepEqual(reasons, ['start'], 'no pass during the backoff');
  await clock.advance(1000);
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'retry'], 'one pass when the backoff ends, covering the events');
  loop.trigger('later');
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'retry', 'later'], 'after a success, events run at once again');
  loop.stop();
});

test('loop: the resync timer forces a pass; stop() cancels it', async () => {
  const clock = new FakeClock();
  const reasons: string[] = [];
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 1000,
    clock,
    pass: async (r) => {
      reasons.push(r);
      return { failures: [] };
    },
  });
  loop.start();
  await loop.idle();
  await clock.advance(999);
  await loop.idle();
  assert.deepEqual(reasons, ['start']);
  await clock.advance(1);
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'resync']);
  loop.stop();
  await clock.advance(5000);
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'resync']);
});

test('loop: stopped while a retry waits out its backoff, then started again: a pass runs at once (the leader-regained case)', async () => {
  const clock = new FakeClock();
  const reasons: string[] = [];
  let fail = true;
  const loop = new ReconcileLoop({
    name: 't',
    logger: silentLogger(),
    resyncMs: 0,
    clock,
    backoff: { initialMs: 100, maxMs: 1_000 },
    pass: async (reason) => {
      reasons.push(reason);
      return { failures: fail ? [new Error('API gone')] : [] };
    },
  });
  loop.start();
  await loop.idle();
  assert.deepEqual(clock.pending(), [100], 'a retry waits out its backoff');
  // Leadership lost while the retry waits: the loop stops, its timers are cancelled.
  loop.stop();
  assert.deepEqual(clock.pending(), []);
  loop.trigger('event while stopped');
  fail = false;
  // Leadership regained: the loop must run now, not wait for the cancelled retry.
  loop.start();
  await loop.idle();
  loop.trigger('event after start');
  await loop.idle();
  assert.deepEqual(reasons, ['start', 'start', 'event after start']);
});
