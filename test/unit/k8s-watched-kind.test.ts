/**
 * WatchedKind (the agent's informer per kind): a first list that fails must not count as
 * synced with an empty cache (the node would take "no Services" for the cluster's state and
 * withdraw everything); it is retried with backoff and the kind is synced once a list
 * really comes back. The watch endpoint is a local HTTP server that accepts and stays quiet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig, type KubernetesListObject, type V1Service } from '@kubernetes/client-node';
import { WatchedKind } from '../../src/k8s/informers.js';
import { silentLogger } from '../../src/observability/logger.js';
import { sleep, waitFor } from '../../src/util/wait.js';

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
  const w = new WatchedKind<V1Service>('Service', kc, '/api/v1/services', list, (k) => changes.push(k), silentLogger(), { initialMs: 20, maxMs: 50 });
  t.after(async () => {
    await w.stop();
    for (const c of sockets) c.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  await w.start();
  assert.equal(w.isSynced, false, 'synced after a failed list');
  assert.deepEqual(changes, [], 'a pass was requested on an empty, unlisted cache');
  await waitFor('synced', () => (w.isSynced ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
  assert.equal(lists, 3);
  assert.deepEqual(w.items().map((s) => s.metadata?.name), ['a']);
  assert.equal(w.items()[0]?.metadata?.managedFields, undefined, 'managedFields kept in the cache');
  await sleep(50);
  assert.ok(changes.length >= 1);
});
