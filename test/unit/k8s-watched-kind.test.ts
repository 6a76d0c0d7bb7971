/**
 * WatchedKind (the agent's informer per kind): a first list that fails must not count as
 * synced with an empty cache (the node would take "no Services" for the cluster's state and
 * withdraw everything); it is retried with backoff and the kind is synced once a list
 * really comes back. The watch endpoint is a local HTTP server that accepts and stays quiet.
 * The restart backoff runs on a FakeClock with a stubbed jitter source: nothing sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig, type KubernetesListObject, type V1Service } from '@kubernetes/client-node';
import { WatchedKind } from '../../src/k8s/informers.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from './fake-clock.js';

test('watched kind: a failed first list is not a sync; retried; synced with the objects once a list answers', async (t) => {
  const sockets = new Set<Socket>();
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('');
  });
  srv.on('connection', (c) => sockets.add(c));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  let lists = 0;
  const list = async (): Promise<KubernetesListObject<V1Service>> => {
    if (++lists <= 2) throw new Error('storage is (re)initializing');
    return { metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'a', namespace: 'd', managedFields: [{ manager: 'x' }] } }] };
  };
  const changes: string[] = [];
  const clock = new FakeClock();
  // No jitter (0.5 → ×1.0): the retries come at exactly 20 ms and 40 ms more.
  const w = new WatchedKind<V1Service>('Service', kc, '/api/v1/services', list, (k) => changes.push(k), silentLogger(), { initialMs: 20, maxMs: 50 }, {}, { clock, random: () => 0.5 });
  t.after(async () => {
    await w.stop();
    for (const c of sockets) c.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  const t0 = clock.now();
  await w.start();
  assert.equal(w.isSynced, false, 'synced after a failed list');
  assert.deepEqual(changes, [], 'a pass was requested on an empty, unlisted cache');
  await clock.advance(19);
  assert.equal(lists, 1, 'retried before the backoff');
  await clock.advance(1);
  assert.equal(lists, 2, 'not retried after the 20 ms backoff');
  await clock.advance(39);
  assert.equal(lists, 2, 'the second retry did not back off longer');
  await clock.advanceUntil(() => w.isSynced, { maxMs: 5_000 });
  assert.equal(w.isSynced, true, 'never synced');
  assert.equal(clock.now() - t0, 60, 'synced at 20 + 40 ms');
  assert.equal(lists, 3);
  assert.deepEqual(w.items().map((s) => s.metadata?.name), ['a']);
  assert.equal(w.items()[0]?.metadata?.managedFields, undefined, 'managedFields kept in the cache');
  await clock.advance(50);
  assert.ok(changes.length >= 1);
});

test('watched kind: restart backoff doubles up to the cap with ±20 % jitter, and starts over after 30 s without a failure', async (t) => {
  const kc = new KubeConfig();
  // Never contacted: every list fails, so no watch is ever opened.
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  let lists = 0;
  const list = async (): Promise<KubernetesListObject<V1Service>> => {
    lists++;
    throw new Error('etcdserver: request timed out');
  };
  const clock = new FakeClock();
  const jitter = [0.5, 0.5, 0.5, 0.5, 0, 0.99999];
  const w = new WatchedKind<V1Service>('Service', kc, '/api/v1/services', list, () => undefined, silentLogger(), { initialMs: 10_000, maxMs: 35_000 }, {}, { clock, random: () => jitter.shift() ?? 0.5 });
  t.after(() => w.stop());
  await w.start();
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    const pending = clock.pending();
    assert.equal(pending.length, 1, `one retry pending, not ${pending.length}`);
    const d = pending[0]!;
    delays.push(d);
    await clock.advance(d - 1);
    assert.equal(lists, i + 1, `retry ${i + 1} came before its ${d} ms backoff`);
    await clock.advance(1);
    assert.equal(lists, i + 2, `retry ${i + 1} did not come after its ${d} ms backoff`);
  }
  assert.deepEqual(delays, [
    10_000, // first failure
    20_000, // 10 s after the last: doubled
    35_000, // 20 s after the last: doubled, capped
    10_000, // 35 s without a failure: starts over
    16_000, // 20 s base, jitter 0 → ×0.8
    42_000, // 35 s base (capped), jitter → ×1.2
    10_000, // 42 s without a failure: starts over
  ]);
  assert.equal(w.isSynced, false);
});
