/** ModelBuilder: incremental builds equal a fresh build, output is order-independent, and one change recomputes one Service. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { buildNodeDesiredState, ModelBuilder } from '../../src/desired/builder.js';
import type { ServiceSnapshot as ClusterSnapshot } from '../../src/model/snapshot.js';
import { modelConfig } from '../../src/desired/config.js';
import { node, renderAds, slice, svc } from './desired-fixtures.js';

const cfg = modelConfig({
  advertiseClusterIPs: false,
  pools: [{ cidrs: ['192.0.2.0/24'], communities: ['65000:1'], largeCommunities: [], weightedEcmp: true }],
});

type Mutation =
  | { t: 'svc'; i: number; ip: number; port: number; local: boolean; bad: boolean; cls: boolean }
  | { t: 'delSvc'; i: number }
  | { t: 'slice'; i: number; eps: string[] }
  | { t: 'delSlice'; i: number }
  | { t: 'node'; ready: boolean; excluded: boolean };

const rarely = fc.constantFrom(false, false, false, true);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({
    t: fc.constant('svc' as const),
    i: fc.nat(5),
    ip: fc.nat(2),
    port: fc.constantFrom(80, 443),
    local: fc.boolean(),
    bad: rarely,
    cls: rarely,
  }) },
  fc.record({ t: fc.constant('delSvc' as const), i: fc.nat(5) }),
  { weight: 4, arbitrary: fc.record({
    t: fc.constant('slice' as const),
    i: fc.nat(5),
    eps: fc.uniqueArray(
      fc.tuple(fc.nat(4), fc.constantFrom('n1', 'n2'), fc.constantFrom('', '!t', '!T', '!n')).map(([a, n, f]) => `10.0.0.${a + 1}@${n}${f}`),
      { selector: (s) => s.split('@')[0], maxLength: 4 },
    ),
  }) },
  fc.record({ t: fc.constant('delSlice' as const), i: fc.nat(5) }),
  fc.record({ t: fc.constant('node' as const), ready: fc.boolean(), excluded: rarely }),
);

function applyMutation(m: Mutation, svcs: Map<number, V1Service>, slices: Map<number, V1EndpointSlice>, nodes: { n1: V1Node }): void {
  switch (m.t) {
    case 'svc':
      svcs.set(
        m.i,
        svc(`s${m.i}`, {
          ingress: [['192.0.2.1', '192.0.2.2', '2001:db8::1'][m.ip]!],
          ports: [{ name: 'http', port: m.port, targetPort: 80 }],
          ...(m.local ? { etp: 'Local' as const } : {}),
          ...(m.bad ? { annotations: { 'bgpvs.io/scheduler': 'nope' } } : {}),
          ...(m.cls ? { cls: 'other/lb' } : {}),
        }),
      );
      break;
    case 'delSvc':
      svcs.delete(m.i);
      break;
    case 'slice':
      slices.set(m.i, slice(`s${m.i}`, m.eps));
      break;
    case 'delSlice':
      slices.delete(m.i);
      break;
    case 'node':
      nodes.n1 = node('n1', { ready: m.ready, labels: m.excluded ? { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } : {} });
      break;
  }
}

// Unchanging Services around the mutated ones, so that small changes take the builder's
// patch-in-place output path rather than its re-sort path.
const background = Array.from({ length: 80 }, (_, i) => svc(`bg${String(i).padStart(2, '0')}`, { ingress: [`192.0.${i % 2 ? 3 : 1}.${i + 10}`] }));
const backgroundSlices = background.map((s) => slice(s.metadata!.name!, ['10.0.1.1@n1', '10.0.1.2@n2']));

for (const withBackground of [false, true]) {
  test(`builder: after any sequence of changes, the incremental state equals a fresh build${withBackground ? ' (patch path)' : ''}`, () => {
    fc.assert(
      fc.property(fc.array(fc.array(mutation, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }), (steps) => {
        const svcs = new Map<number, V1Service>();
        const slices = new Map<number, V1EndpointSlice>();
        const nodes = { n1: node('n1') };
        const b = new ModelBuilder(cfg, 'n1');
        for (const step of steps) {
          for (const m of step) applyMutation(m, svcs, slices, nodes);
          const snap: ClusterSnapshot = {
            services: [...(withBackground ? background : []), ...svcs.values()],
            endpointSlices: [...(withBackground ? backgroundSlices : []), ...slices.values()],
            nodes: [nodes.n1, node('n2')],
          };
          b.sync(snap);
          assert.deepEqual(b.build(), buildNodeDesiredState(snap, 'n1', cfg));
        }
      }),
      { numRuns: 200, seed: 3 },
    );
  });
}

test('builder: output does not depend on the order of the input lists', () => {
  const services = [svc('a', { ingress: ['192.0.2.1'] }), svc('b', { ingress: ['192.0.2.1'], ports: [{ name: 'http', port: 443 }] }), svc('c', { ingress: ['2001:db8::1'] })];
  const endpointSlices = [
    slice('a', ['10.0.0.2@n1', '10.0.0.1@n2']),
    slice('b', ['10.0.0.3@n1'], { name: 'b-1' }),
    slice('b', ['10.0.0.3@n1!t', '10.0.0.4@n2'], { name: 'b-2' }),
    slice('c', ['fd00::2@n1', 'fd00::1@n1'], { family: 'IPv6' }),
  ];
  const nodes = [node('n1'), node('n2')];
  const want = buildNodeDesiredState({ services, endpointSlices, nodes }, 'n1', cfg);
  fc.assert(
    fc.property(fc.shuffledSubarray(services, { minLength: 3 }), fc.shuffledSubarray(endpointSlices, { minLength: 4 }), (s, e) => {
      assert.deepEqual(buildNodeDesiredState({ services: s, endpointSlices: e, nodes: [...nodes].reverse() }, 'n1', cfg), want);
    }),
    { numRuns: 50, seed: 1 },
  );
});

test('builder: one endpoint change recomputes one Service; unrelated node status updates recompute none', () => {
  const services = Array.from({ length: 50 }, (_, i) => svc(`s${i}`, { ingress: [`192.0.2.${i + 1}`] }));
  const endpointSlices = services.map((_, i) => slice(`s${i}`, ['10.0.0.1@n1', '10.0.0.2@n2']));
  const b = new ModelBuilder(cfg, 'n1');
  b.sync({ services, endpointSlices, nodes: [node('n1')] });
  b.build();
  assert.equal(b.lastRecomputed, 50);

  const changed = [...endpointSlices];
  changed[7] = slice('s7', ['10.0.0.1@n1!t', '10.0.0.2@n2']);
  b.sync({ services, endpointSlices: changed, nodes: [node('n1')] });
  const s = b.build();
  assert.equal(b.lastRecomputed, 1);
  assert.deepEqual(s.virtualServers.find((v) => v.vip === '192.0.2.8')?.realServers.map((r) => r.weight), [0, 1]);

  b.sync({ services, endpointSlices: changed, nodes: [node('n1')] }); // a fresh but equivalent Node object
  b.build();
  assert.equal(b.lastRecomputed, 0);
});

test('builder: a shared VIP is withdrawn only when its last Service goes', () => {
  const a = svc('a', { ingress: ['192.0.2.1'] });
  const c = svc('c', { ingress: ['192.0.2.1'], ports: [{ name: 'http', port: 443 }] });
  const endpointSlices = [slice('a', ['10.0.0.1@n1']), slice('c', ['10.0.0.2@n1'], { ports: [{ name: 'http', port: 443 }] })];
  const nodes = [node('n1')];
  const b = new ModelBuilder(cfg, 'n1');
  b.sync({ services: [a, c], endpointSlices, nodes });
  assert.deepEqual(renderAds(b.build()), ['192.0.2.1/32 default/a,default/c lre=2']);
  b.deleteService('default/a');
  assert.deepEqual(renderAds(b.build()), ['192.0.2.1/32 default/c lre=1']);
  b.deleteEndpointSlice('default/c-IPv4');
  assert.deepEqual(renderAds(b.build()), []);
  assert.deepEqual(b.build().decisions.map((d) => d.reason), ['noReadyEndpoints']);
});

test('builder: events and snapshots can be mixed — a sync after an event trusts no positions', () => {
  const a = svc('a', { ingress: ['192.0.2.1'] });
  const endpointSlices = [slice('a', ['10.0.0.1@n1'])];
  const nodes = [node('n1')];
  const snap = { services: [a], endpointSlices, nodes };
  const b = new ModelBuilder(cfg, 'n1');
  b.sync(snap);
  const before = b.build();
  b.upsertService(svc('a', { ingress: ['192.0.2.99'] }));
  assert.deepEqual(renderAds(b.build()), ['192.0.2.99/32 default/a lre=1']);
  b.sync(snap); // same arrays as before the event: the event's object must still be replaced
  assert.deepEqual(b.build(), before);
});
