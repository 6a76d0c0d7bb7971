import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCoexistence, cniBgpFromDiscovery, CoexistenceError, readListeners, type ServedResources } from '../../src/coexist/findings.js';

const served = (o: Record<string, Record<string, string[]>>): ServedResources =>
  new Map(Object.entries(o).map(([g, vs]) => [g, new Map(Object.entries(vs))]));

test('cniBgpFromDiscovery: a served BGP resource of the group counts, other resources of the group do not', () => {
  const cases: [string, ServedResources, { calicoBgp: boolean; ciliumBgp: boolean }][] = [
    ['nothing', served({}), { calicoBgp: false, ciliumBgp: false }],
    ['calico BGPConfiguration', served({ 'crd.projectcalico.org': { v1: ['ippools', 'bgpconfigurations'] } }), { calicoBgp: true, ciliumBgp: false }],
    ['calico without BGP kinds', served({ 'crd.projectcalico.org': { v1: ['ippools'] } }), { calicoBgp: false, ciliumBgp: false }],
    ['cilium v2alpha1 peering policy', served({ 'cilium.io': { v2: ['ciliumnetworkpolicies'], v2alpha1: ['ciliumbgppeeringpolicies'] } }), { calicoBgp: false, ciliumBgp: true }],
    ['cilium cluster config', served({ 'cilium.io': { v2: ['ciliumbgpclusterconfigs'] } }), { calicoBgp: false, ciliumBgp: true }],
  ];
  for (const [name, s, want] of cases) assert.deepEqual(cniBgpFromDiscovery(s), want, name);
});

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0B00000A:00B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:C351 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
`;

test('readListeners: /proc/net/tcp6 missing is no IPv6, not an error', async () => {
  const read = async (p: string) => {
    if (p === '/proc/net/tcp') return TCP;
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  };
  assert.deepEqual(await readListeners(179, read), ['10.0.0.11']);
});

test('checkCoexistence: refusal is a CoexistenceError carrying the decision message', async () => {
  const src = { listeners: async () => ['10.0.0.11'], served: async () => served({}) };
  const input = { mode: 'dedicated' as const, nodeAddress: '10.0.0.11', peers: [{ address: '10.0.0.1', port: 179 }], allowWriteCniConfig: false };
  await assert.rejects(checkCoexistence(input, src), (e: unknown) => e instanceof CoexistenceError && /10\.0\.0\.11:179/.test(e.message) && /via-local-speaker/.test(e.message));
  const ok = await checkCoexistence({ ...input, peers: [{ address: '10.0.0.1', port: 179, sourceAddress: '10.0.0.21' }] }, src);
  assert.deepEqual(ok.findings, { port179Listeners: ['10.0.0.11'], calicoBgp: false, ciliumBgp: false });
});
