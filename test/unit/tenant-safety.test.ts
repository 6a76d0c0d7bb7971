/**
 * Multi-tenant safety of the Service model and the caches (issue 14): per-Service cost caps,
 * loadBalancerSourceRanges, bounded echoes of tenants' strings, slimmed cached objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { buildNodeDesiredState } from '../../src/desired/builder.js';
import { DEFAULT_SERVICE_LIMITS, modelConfig } from '../../src/desired/config.js';
import { DEFAULT_LIMITS } from '../../src/config/config.js';
import { refusedServices } from '../../src/agent/node-plan.js';
import { statusReport } from '../../src/agent/agent.js';
import { slim } from '../../src/k8s/informers.js';
import { EventRecorder } from '../../src/k8s/events.js';
import { silentLogger } from '../../src/observability/logger.js';
import { clip } from '../../src/util/text.js';
import { node, slice, svc } from './desired-fixtures.js';

const cfg = modelConfig();
const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 1000 + i, targetPort: 8080, protocol: 'TCP' as const }));
const slicePorts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 8080 }));
const snap = (services: V1Service[], slices: ReturnType<typeof slice>[]) => ({ services, endpointSlices: slices, nodes: [node('n1')] });

test('the config defaults of the caps are the model\'s', () => {
  const { bucketsPerVirtualServer: _b, ...model } = DEFAULT_SERVICE_LIMITS;
  assert.deepEqual({ ...DEFAULT_LIMITS }, model);
});

test('a 1,000-port Service is refused with a reason; another Service is still programmed', () => {
  const big = svc('big', { ns: 'tenant-a', ingress: ['192.0.2.66'], ports: ports(1000) });
  const web = svc('web', { ingress: ['192.0.2.10'] });
  const s = buildNodeDesiredState(
    snap([big, web], [slice('big', ['10.1.0.1@n1'], { ns: 'tenant-a', ports: slicePorts(1000) }), slice('web', ['10.1.0.2@n1'])]),
    'n1',
    cfg,
  );
  assert.deepEqual(s.virtualServers.map((v) => `${v.vip}:${v.port}`), ['192.0.2.10:80']);
  assert.deepEqual(s.advertisements.map((a) => a.prefix), ['192.0.2.10/32']);
  const d = s.decisions.find((x) => x.service === 'tenant-a/big')!;
  assert.equal(d.advertised, false);
  assert.equal(d.ip, '192.0.2.66');
  assert.equal(d.reason, 'serviceTooLarge: 1000 ports, the limit is 100 (--service.max-ports)');
  assert.deepEqual(refusedServices(s.decisions), ['Service tenant-a/big refused: serviceTooLarge: 1000 ports, the limit is 100 (--service.max-ports)']);
});

test('the caps: ports × IPs and ports × IPs × (buckets + source ranges)', () => {
  const limits = { maxPorts: 100, maxVirtualServers: 10, maxBuckets: 1000, bucketsPerVirtualServer: 100 };
  const c = modelConfig({ limits });
  const one = (o: Parameters<typeof svc>[1], n: number) =>
    buildNodeDesiredState(snap([svc('s', o)], [slice('s', ['10.1.0.1@n1'], { ports: slicePorts(n) })]), 'n1', c).decisions[0]!.reason;
  // 6 ports × 2 IPs = 12 virtual servers > 10
  assert.match(one({ ingress: ['192.0.2.1', '192.0.2.2'], ports: ports(6) }, 6)!, /^serviceTooLarge: 6 ports × 2 IPs = 12 virtual servers, the limit is 10/);
  // 10 × 100 buckets = 1000: at the cap, served
  assert.equal(one({ ingress: ['192.0.2.1'], ports: ports(10) }, 10), undefined);
  // 10 × (100 + 1 range) = 1010 > 1000
  const withRange = svc('s', { ingress: ['192.0.2.1'], ports: ports(10) });
  withRange.spec!.loadBalancerSourceRanges = ['198.51.100.0/24'];
  const r = buildNodeDesiredState(snap([withRange], [slice('s', ['10.1.0.1@n1'], { ports: slicePorts(10) })]), 'n1', c);
  assert.match(r.decisions[0]!.reason!, /^serviceTooLarge: 10 virtual servers × \(100 buckets \+ 1 source ranges\) = 1010 entries/);
});

test('loadBalancerSourceRanges: canonical CIDRs on the LoadBalancer VIPs only, per family; a bad one skips the Service', () => {
  const s = svc('web', { ingress: ['192.0.2.10', '2001:db8::10'], clusterIPs: ['10.96.0.10'], annotations: { 'bgpvs.io/advertise-cluster-ip': 'true' } });
  s.spec!.loadBalancerSourceRanges = ['198.51.100.7/24', ' 2001:db8:1::/48', '203.0.113.0/28', '198.51.100.128/25', '2001:db8:1:2::/64'];
  const st = buildNodeDesiredState(snap([s], [slice('web', ['10.1.0.1@n1']), slice('web', ['fd00::1@n1'], { family: 'IPv6' })]), 'n1', cfg);
  const by = new Map(st.virtualServers.map((v) => [v.vip, v.sourceRanges]));
  assert.deepEqual(by.get('192.0.2.10'), ['198.51.100.0/24', '203.0.113.0/28'], 'canonical; ranges inside another dropped');
  assert.deepEqual(by.get('2001:db8::10'), ['2001:db8:1::/48']);
  assert.equal(by.has('10.96.0.10'), true);
  assert.equal(by.get('10.96.0.10'), undefined, 'a ClusterIP is not filtered');

  // ranges of the other family only: nobody may connect to this family's VIP (fail closed)
  const v4only = svc('v4', { ingress: ['2001:db8::20'] });
  v4only.spec!.loadBalancerSourceRanges = ['198.51.100.0/24'];
  const st2 = buildNodeDesiredState(snap([v4only], [slice('v4', ['fd00::1@n1'], { family: 'IPv6' })]), 'n1', cfg);
  assert.deepEqual(st2.virtualServers[0]!.sourceRanges, []);

  const bad = svc('bad', { ingress: ['192.0.2.30'] });
  bad.spec!.loadBalancerSourceRanges = ['198.51.100.0/24', `not-a-cidr${'x'.repeat(5000)}`];
  const st3 = buildNodeDesiredState(snap([bad], [slice('bad', ['10.1.0.1@n1'])]), 'n1', cfg);
  assert.equal(st3.virtualServers.length, 0);
  const reason = st3.decisions[0]!.reason!;
  assert.match(reason, /^invalidSourceRange: "not-a-cidrx+…\(\+\d+\)" is not a CIDR$/);
  assert.ok(reason.length < 120, `reason bounded: ${reason.length}`);
});

test('strings echoed from tenants are bounded: annotation values, addresses, /status, Events', async () => {
  const huge = 'y'.repeat(100_000);
  const st = buildNodeDesiredState(snap([svc('a', { annotations: { 'bgpvs.io/scheduler': huge } }), svc('b', { ingress: [huge] })], []), 'n1', cfg);
  for (const d of st.decisions) assert.ok(JSON.stringify(d).length < 300, JSON.stringify(d).slice(0, 300));
  const report = statusReport('n1', { virtualServers: [], advertisements: [], decisions: [{ service: 'x/y', advertised: false, reason: `invalidAnnotation: ${huge}`, notes: [huge] }] }, []);
  assert.ok(JSON.stringify(report).length < 2600);
  const sent: unknown[] = [];
  const rec = new EventRecorder({ sink: { create: async (_ns, ev) => sent.push(ev) }, component: 't', instance: 'i', logger: silentLogger() });
  rec.record({ kind: 'Service', apiVersion: 'v1', namespace: 'x', name: 'y' }, 'Warning', huge, huge);
  await rec.drain();
  const ev = sent[0] as { reason: string; message: string };
  assert.equal(ev.reason.length, 128);
  assert.equal(ev.message.length, 1024);
  assert.equal(clip('short'), 'short');
});

test('slim: cached objects keep only bgpvs.io/ annotations, and no managedFields', () => {
  const o = {
    metadata: {
      name: 'a',
      managedFields: [{ manager: 'kubectl' }],
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}', 'tenant/blob': 'z'.repeat(1000), 'bgpvs.io/scheduler': 'mh' },
      labels: { app: 'a' },
    },
  };
  slim(o);
  assert.deepEqual(o.metadata, { name: 'a', annotations: { 'bgpvs.io/scheduler': 'mh' }, labels: { app: 'a' } });
  const p = { metadata: { name: 'b', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } } };
  slim(p);
  assert.deepEqual(p.metadata, { name: 'b' });
});

test('least privilege: /status and /metrics on loopback by default; Secrets read from one namespace only', async () => {
  const { loadConfig } = await import('../../src/config/config.js');
  const cfg = loadConfig({ argv: ['--node-name=n1', '--bgp.asn=64512'], env: {} });
  assert.deepEqual(cfg.metrics, { host: '127.0.0.1', port: 9254 });
  assert.equal(cfg.health, undefined);
  assert.equal(cfg.secretNamespace, 'bgpvs-system');
  const { PeerSecrets } = await import('../../src/k8s/secrets.js');
  const reads: string[] = [];
  const ps = new PeerSecrets({ source: { read: async (ns, name) => (reads.push(`${ns}/${name}`), { pw: Buffer.from('s3cret').toString('base64') }) }, logger: silentLogger(), namespace: 'bgpvs-system' });
  const got = await ps.read([{ namespace: 'tenant', name: 'theirs', key: 'pw' }, { namespace: 'bgpvs-system', name: 'ours', key: 'pw' }]);
  assert.deepEqual(reads, ['bgpvs-system/ours'], 'a Secret in another namespace is never requested');
  assert.deepEqual([...got.keys()], ['bgpvs-system/ours#pw']);
});

test('the health-only listener answers probes and nothing else', async () => {
  const { HttpEndpoints } = await import('../../src/observability/http.js');
  const { Registry } = await import('prom-client');
  const h = new HttpEndpoints({ registry: new Registry(), health: { liveness: () => undefined, readiness: () => undefined }, host: '127.0.0.1', port: 0, status: () => ({ secret: 'x' }), healthOnly: true });
  const port = await h.start();
  try {
    const code = async (p: string) => (await fetch(`http://127.0.0.1:${port}${p}`)).status;
    assert.deepEqual([await code('/healthz'), await code('/readyz'), await code('/status'), await code('/metrics')], [200, 200, 404, 404]);
  } finally {
    await h.stop();
  }
});
