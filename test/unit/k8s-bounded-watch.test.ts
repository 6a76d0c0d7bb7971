/**
 * BoundedWatch against a local HTTP server that misbehaves the ways a vanished API server
 * does: it never answers, or answers and then goes silent without closing. client-node's
 * Watch waits for ever in both; this one must end the watch (an error for no answer, a
 * plain close for silence, after which ListWatch re-watches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { BoundedWatch, WatchHttpError } from '../../src/k8s/bounded-watch.js';

async function server(handler: http.RequestListener): Promise<{ kc: KubeConfig; urls: string[]; close: () => Promise<void> }> {
  const urls: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const s = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    handler(req, res);
  });
  s.on('connection', (c) => sockets.add(c));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    kc,
    urls,
    close: () => {
      for (const c of sockets) c.destroy();
      return new Promise<void>((r) => s.close(() => r()));
    },
  };
}

const watchOnce = (w: BoundedWatch, events: string[]) =>
  new Promise<unknown>((resolve) => {
    void w.watch('/api/v1/services', { resourceVersion: '7' }, (type) => events.push(type), resolve);
  });

test('bounded watch: no response headers → fails (an error, so the caller backs off and retries)', async (t) => {
  const srv = await server(() => undefined); // accepts, never answers
  t.after(() => srv.close());
  const err = await watchOnce(new BoundedWatch(srv.kc, { headersTimeoutMs: 300 }), []);
  assert.ok(err instanceof Error && /no response within 300 ms/.test(err.message), String(err));
  assert.match(srv.urls[0] ?? '', /watch=true/);
  assert.match(srv.urls[0] ?? '', /timeoutSeconds=\d+/);
  assert.match(srv.urls[0] ?? '', /allowWatchBookmarks=true/);
  assert.match(srv.urls[0] ?? '', /resourceVersion=7/);
});

test('bounded watch: events, then silence without a close → closed as done(null) after the idle limit', async (t) => {
  const srv = await server((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', managedFields: [{}] } } }) + '\n');
    // ...and nothing more, connection left open (a server that froze, a half-open path).
  });
  t.after(() => srv.close());
  const events: string[] = [];
  const seen: unknown[] = [];
  const w = new BoundedWatch(srv.kc, { idleMs: 400, transform: (o) => (seen.push(o), o) });
  const done = await watchOnce(w, events);
  assert.equal(done, null, 'a silent watch ends as a normal close (re-watch from its resourceVersion)');
  assert.deepEqual(events, ['ADDED']);
  assert.equal(seen.length, 1, 'the transform saw the object');
});

test('bounded watch: an HTTP error status carries statusCode (410 Gone makes ListWatch re-list)', async (t) => {
  const srv = await server((_req, res) => {
    res.writeHead(410);
    res.end('{"kind":"Status","code":410}');
  });
  t.after(() => srv.close());
  const err = await watchOnce(new BoundedWatch(srv.kc), []);
  assert.ok(err instanceof WatchHttpError);
  assert.equal(err.statusCode, 410);
});

test('bounded watch: aborted by the caller → no callback after that', async (t) => {
  const srv = await server((_req, res) => {
    res.writeHead(200);
    res.write('\n');
  });
  t.after(() => srv.close());
  let doneCalls = 0;
  const ctrl = await new BoundedWatch(srv.kc, { idleMs: 200 }).watch('/api/v1/services', {}, () => undefined, () => doneCalls++);
  await new Promise((r) => setTimeout(r, 50));
  ctrl.abort();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(doneCalls, 0);
});
