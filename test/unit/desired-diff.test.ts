/** diff/apply over random node states: applying the diff converges, and the diff is minimal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apply, diff, type DataplaneState, type ModelOp } from '../../src/desired/diff.js';
import { cmp, compareRealServers, compareVirtualServers, vsKey } from '../../src/desired/order.js';
import type { Advertisement, RealServer, VirtualServer } from '../../src/model/types.js';

const vips = ['192.0.2.1', '192.0.2.2', '2001:db8::1'];
const realServer: fc.Arbitrary<RealServer> = fc.record(
  {
    address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', 'fd00::1'),
    port: fc.constantFrom(80, 8080),
    weight: fc.integer({ min: 0, max: 3 }),
    nodeName: fc.constantFrom('n1', 'n2'),
    terminating: fc.boolean(),
  },
  { requiredKeys: ['address', 'port', 'weight'] },
);
const services = fc.uniqueArray(fc.constantFrom('a/x', 'a/y', 'b/z'), { maxLength: 2 });
const virtualServer: fc.Arbitrary<VirtualServer> = fc.record({
  vip: fc.constantFrom(...vips),
  protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
  port: fc.constantFrom(53, 80, 443),
  family: fc.constantFrom('IPv4' as const, 'IPv6' as const),
  scheduler: fc.constantFrom('rr' as const, 'wrr' as const, 'mh' as const),
  schedulerFlags: fc.subarray(['mh-fallback' as const, 'mh-port' as const]),
  persistenceSeconds: fc.constantFrom(0, 600),
  forwarding: fc.constantFrom('nat' as const, 'dr' as const, 'tunnel' as const),
  realServers: fc.uniqueArray(realServer, { selector: (r) => `${r.address}|${r.port}`, maxLength: 5 }),
  services,
});
const advertisement: fc.Arbitrary<Advertisement> = fc.record(
  {
    prefix: fc.constantFrom('192.0.2.1/32', '192.0.2.2/32', '2001:db8::1/128', '198.51.100.1/32'),
    family: fc.constantFrom('IPv4' as const, 'IPv6' as const),
    communities: fc.subarray(['65000:1', '65000:2']),
    largeCommunities: fc.subarray(['65000:1:1']),
    localPref: fc.constantFrom(100, 200),
    services,
    localReadyEndpoints: fc.integer({ min: 0, max: 3 }),
    weighted: fc.boolean(),
  },
  { requiredKeys: ['prefix', 'family', 'communities', 'largeCommunities', 'services', 'localReadyEndpoints', 'weighted'] },
);
const state: fc.Arbitrary<DataplaneState> = fc.record({
  virtualServers: fc.uniqueArray(virtualServer, { selector: vsKey, maxLength: 8 }),
  advertisements: fc.uniqueArray(advertisement, { selector: (a) => a.prefix, maxLength: 4 }),
});

/** What the kernel and BGP hold: no bookkeeping, canonical order. */
function project(s: DataplaneState) {
  return {
    vs: [...s.virtualServers].sort(compareVirtualServers).map((v) => ({
      key: vsKey(v),
      attrs: [v.family, v.scheduler, [...v.schedulerFlags].sort(cmp), v.persistenceSeconds, v.forwarding],
      rs: [...v.realServers].sort(compareRealServers).map((r) => `${r.address}|${r.port}|${r.weight}`),
    })),
    ads: [...s.advertisements]
      .sort((a, b) => cmp(a.prefix, b.prefix))
      .map((a) => [a.prefix, a.family, [...a.communities].sort(cmp), [...a.largeCommunities].sort(cmp), a.localPref, a.weighted, a.weighted ? a.localReadyEndpoints : -1]),
  };
}

const RUNS = { numRuns: 400, seed: 20261122 };

test('diff: applying diff(desired, actual) to actual yields desired, and the next diff is empty', () => {
  fc.assert(
    fc.property(state, state, (desired, actual) => {
      const next = apply(diff(desired, actual), actual);
      assert.deepEqual(project(next), project(desired));
      assert.deepEqual(diff(desired, next), []);
    }),
    RUNS,
  );
});

test('diff: a state diffed against itself needs nothing', () => {
  fc.assert(fc.property(state, (s) => assert.deepEqual(diff(s, s), [])), RUNS);
});

test('diff: minimal — one op per changed virtual server, real server and prefix, none redundant', () => {
  fc.assert(
    fc.property(state, state, (desired, actual) => {
      const ops = diff(desired, actual);
      const vsOps = new Map<string, ModelOp['kind']>();
      const rsOps = new Set<string>();
      const adOps = new Set<string>();
      for (const op of ops) {
        switch (op.kind) {
          case 'addVirtualServer':
          case 'updateVirtualServer':
          case 'deleteVirtualServer':
            assert.ok(!vsOps.has(vsKey(op.vs)), `two ops on ${vsKey(op.vs)}`);
            vsOps.set(vsKey(op.vs), op.kind);
            break;
          case 'addRealServer':
          case 'updateRealServer':
          case 'deleteRealServer': {
            const k = `${vsKey(op.vs)}/${op.rs.address}|${op.rs.port}`;
            assert.ok(!rsOps.has(k), `two ops on ${k}`);
            rsOps.add(k);
            // real servers go with their virtual server: never touched on one being deleted,
            // and a new virtual server only gets adds
            assert.notEqual(vsOps.get(vsKey(op.vs)), 'deleteVirtualServer');
            if (vsOps.get(vsKey(op.vs)) === 'addVirtualServer') assert.equal(op.kind, 'addRealServer');
            break;
          }
          case 'announce':
          case 'updateAdvertisement':
            assert.ok(!adOps.has(op.ad.prefix));
            adOps.add(op.ad.prefix);
            break;
          case 'withdraw':
            assert.ok(!adOps.has(op.prefix));
            adOps.add(op.prefix);
            break;
        }
      }
      // Every op is needed: dropping any one of them leaves a non-empty diff.
      for (let i = 0; i < ops.length; i++) {
        const fewer = ops.filter((_, j) => j !== i);
        let converged: boolean;
        try {
          converged = diff(desired, apply(fewer, actual)).length === 0;
        } catch {
          converged = false; // e.g. a real server added to a virtual server never created
        }
        assert.ok(!converged, `op ${i} (${ops[i]!.kind}) was redundant`);
      }
    }),
    { ...RUNS, numRuns: 150 },
  );
});

test('diff: bookkeeping alone (services, nodeName, terminating, unweighted endpoint count) changes nothing', () => {
  fc.assert(
    fc.property(state, (s) => {
      const relabelled: DataplaneState = {
        virtualServers: s.virtualServers.map((v) => ({
          ...v,
          services: ['other/svc'],
          realServers: v.realServers.map(({ nodeName: _n, terminating: _t, ...r }) => r),
        })),
        advertisements: s.advertisements.map((a) => ({ ...a, services: [], localReadyEndpoints: a.weighted ? a.localReadyEndpoints : 99 })),
      };
      assert.deepEqual(diff(s, relabelled), []);
    }),
    RUNS,
  );
});

test('diff: apply rejects inconsistent operations, like the kernel would', () => {
  const empty: DataplaneState = { virtualServers: [], advertisements: [] };
  assert.throws(() => apply([{ kind: 'withdraw', prefix: '192.0.2.1/32' }], empty), RangeError);
  assert.throws(
    () => apply([{ kind: 'addRealServer', vs: { vip: '192.0.2.1', protocol: 'TCP', port: 80 }, rs: { address: '10.0.0.1', port: 80, weight: 1 } }], empty),
    RangeError,
  );
});

test('diff: order — virtual servers before their real servers, prefixes last', () => {
  const vs: VirtualServer = {
    vip: '192.0.2.1', protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'rr', schedulerFlags: [],
    persistenceSeconds: 0, forwarding: 'nat', realServers: [{ address: '10.0.0.1', port: 80, weight: 1 }], services: ['a/x'],
  };
  const ad: Advertisement = {
    prefix: '192.0.2.1/32', family: 'IPv4', communities: [], largeCommunities: [], services: ['a/x'], localReadyEndpoints: 1, weighted: false,
  };
  assert.deepEqual(
    diff({ virtualServers: [vs], advertisements: [ad] }, { virtualServers: [], advertisements: [] }).map((o) => o.kind),
    ['addVirtualServer', 'addRealServer', 'announce'],
  );
});
