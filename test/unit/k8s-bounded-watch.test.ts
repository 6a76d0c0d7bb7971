/**
 * BoundedWatch against a local HTTP server that misbehaves the ways a vanished API server
 * does: it never answers, or answers and then goes silent without closing. client-node's
 * Watch waits for ever in both; this one must end the watch (an error for no answer, a
 * plain close for silence, after which ListWatch re-watches).
 * The watch's own timers run on a FakeClock: a test waits (briefly, on real time) only for
 * the HTTP exchange to reach the point it needs, then advances the clock past the limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { BoundedWatch, WatchHttpError } from '../../src/k8s/bounded-watch.js';
import { waitFor } from '../../src/util/wait.js';
import { FakeClock } from './fake-clock.js';

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

/** Whether `p` has settled (after letting pending callbacks run). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise<void>((r) => setImmediate(r));
  return done;
}

/** Real-time wait for an I/O step (the request reaching the server, a line reaching the client): no product timer involved. */
const io = (what: string, ok: () => boolean) => waitFor(what, () => (ok() ? true : undefined), { timeoutMs: 5_000, intervalMs: 2 });

test('bounded watch: no response headers → fails (an error, so the caller backs off and retries)', async (t) => {
  const srv = await server(() => undefined); // accepts, never answers
  t.after(() => srv.close());
  const clock = new FakeClock();
  const pending = watchOnce(new BoundedWatch(srv.kc, { headersTimeoutMs: 300 }, { clock }), []);
  await io('request at the server', () => srv.urls.length === 1);
  await clock.advance(299);
  assert.equal(await settled(pending), false, 'failed before the 300 ms headers limit');
  await clock.advance(1);
  assert.equal(await settled(pending), true, 'still waiting after the 300 ms headers limit');
  const err = await pending;
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
  const clock = new FakeClock();
  const w = new BoundedWatch(srv.kc, { idleMs: 400, transform: (o) => (seen.push(o), o) }, { clock });
  const pending = watchOnce(w, events);
  await io('the event at the client', () => events.length === 1);
  await clock.advance(399);
  assert.equal(await settled(pending), false, 'closed before 400 ms of silence');
  await clock.advance(1);
  assert.equal(await settled(pending), true, 'still open after 400 ms of silence');
  const done = await pending;
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
  let closedAtServer = false;
  const srv = await server((_req, res) => {
    res.writeHead(200);
    res.write('\n');
    res.on('close', () => (closedAtServer = true));
  });
  t.after(() => srv.close());
  let doneCalls = 0;
  const clock = new FakeClock();
  const ctrl = await new BoundedWatch(srv.kc, { idleMs: 200 }, { clock }).watch('/api/v1/services', {}, () => undefined, () => doneCalls++);
  // The response has come (the headers timer gave way to the 200 ms idle timer).
  await io('response headers at the client', () => clock.pending().join() === '200');
  await clock.advance(50);
  ctrl.abort();
  await clock.advance(400);
  // The aborted request's connection closes on real time (I/O): wait until the server sees it.
  await io('connection closed at the server', () => closedAtServer);
  await clock.advance(0);
  assert.equal(doneCalls, 0);
});
