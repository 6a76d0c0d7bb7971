import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpEndpoints } from '../../src/observability/http.js';
import { statusReport } from '../../src/agent/agent.js';
import type { NodeDesiredState } from '../../src/model/types.js';
import { ad } from './advertisement-fixture.js';
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

test('http: /status is the JSON the agent reports; without a status source it is 404', async (t) => {
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const desired: NodeDesiredState = {
    virtualServers: [],
    advertisements: [ad('10.200.0.9/32'), ad('10.200.0.1/32')],
    decisions: [{ service: 'a/web', ip: '10.200.0.9', advertised: true }, { service: 'a/off', ip: '10.200.0.5', advertised: false, reason: 'noLocalReadyEndpoints' }],
  };
  let report = statusReport('node1', undefined, []);
  const http = new HttpEndpoints({ registry: metrics.registry, health: { liveness: () => undefined, readiness: () => undefined }, host: '127.0.0.1', port: 0, status: () => report });
  const bare = new HttpEndpoints({ registry: metrics.registry, health: { liveness: () => undefined, readiness: () => undefined }, host: '127.0.0.1', port: 0 });
  const [port, barePort] = [await http.start(), await bare.start()];
  t.after(() => Promise.all([http.stop(), bare.stop()]));
  const get = async (p: number) => {
    const r = await fetch(`http://127.0.0.1:${p}/status`);
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  };
  assert.deepEqual(JSON.parse((await get(port)).body), { node: 'node1', synced: false, peers: [], advertised: [], services: [] });
  report = statusReport('node1', desired, [{ address: '10.0.0.1', asn: 64512, state: 'established', bfd: 'up', since: Date.UTC(2026, 0, 2, 3, 4, 5) }]);
  const r = await get(port);
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  assert.deepEqual(JSON.parse(r.body), {
    node: 'node1',
    synced: true,
    peers: [{ address: '10.0.0.1', asn: 64512, state: 'established', bfd: 'up', since: '2026-01-02T03:04:05.000Z' }],
    advertised: ['10.200.0.1/32', '10.200.0.9/32'],
    services: desired.decisions,
  });
  assert.equal((await get(barePort)).status, 404);
});
