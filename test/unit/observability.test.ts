import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpEndpoints } from '../../src/observability/http.js';
import { AgentMetrics } from '../../src/observability/metrics.js';
import { Heartbeats } from '../../src/reconcile/health.js';

test('health: ready after each loop passed once; a stale loop fails liveness', () => {
  let now = 0;
  const hb = new Heartbeats(['bgp', 'dataplane'], 1000, () => now);
  assert.match(hb.readiness()!, /bgp, dataplane/);
  hb.beat('bgp', 'ok');
  hb.beat('dataplane', 'failed');
  assert.match(hb.readiness()!, /dataplane/);
  assert.equal(hb.liveness(), undefined, 'a failing loop that still runs is alive');
  hb.beat('dataplane', 'ok');
  assert.equal(hb.readiness(), undefined);
  now = 1500;
  hb.beat('bgp', 'ok');
  assert.match(hb.liveness()!, /dataplane/);
  assert.match(hb.readiness()!, /dataplane/);
});

test('http: /healthz, /readyz and /metrics on loopback', async (t) => {
  let ready: string | undefined = 'not yet';
  const metrics = new AgentMetrics({ defaultMetrics: false });
  metrics.passDuration.observe({ reconciler: 'bgp', outcome: 'ok' }, 0.012);
  const http = new HttpEndpoints({
    registry: metrics.registry,
    health: { liveness: () => undefined, readiness: () => ready },
    host: '127.0.0.1',
    port: 0,
  });
  const port = await http.start();
  t.after(() => http.stop());
  const get = async (p: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${p}`);
    return { status: r.status, body: await r.text() };
  };
  assert.equal((await get('/healthz')).status, 200);
  const notReady = await get('/readyz');
  assert.equal(notReady.status, 503);
  assert.match(notReady.body, /not yet/);
  ready = undefined;
  assert.equal((await get('/readyz')).status, 200);
  const m = await get('/metrics');
  assert.match(m.body, /bgpvs_reconcile_pass_seconds_count\{reconciler="bgp",outcome="ok"\} 1/);
  assert.equal((await get('/nope')).status, 404);
});
