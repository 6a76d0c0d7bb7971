/**
 * The CRD schemas reject malformed pools and peers at admission: the real API server answers
 * 422 (Invalid) and the message names the offending field. Valid objects are accepted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubeApi } from '../rig/kube-api.js';
import { startCluster } from '../rig/k8s-helpers.js';

let api: KubeApi;
let admin: KubeConfig;
let co: CustomObjectsApi;
let n = 0;

before(async () => {
  ({ api, admin } = await startCluster());
  co = admin.makeApiClient(CustomObjectsApi);
});
after(() => api?.stop());

const create = (plural: 'ippools' | 'bgppeers', kind: string, spec: unknown) =>
  co.createClusterCustomObject({ group: 'bgpvs.io', version: 'v1alpha1', plural, body: { apiVersion: 'bgpvs.io/v1alpha1', kind, metadata: { name: `o${++n}` }, spec } });

async function rejected(plural: 'ippools' | 'bgppeers', kind: string, spec: unknown, field: RegExp): Promise<void> {
  await assert.rejects(create(plural, kind, spec), (err: unknown) => {
    assert.ok(err instanceof ApiException, String(err));
    assert.equal(err.code, 422, String(err.body));
    assert.match(String(err.body), field);
    return true;
  });
}

describe('IPPool schema', () => {
  it('accepts a valid dual-stack pool and defaults autoAssign', async () => {
    const o = (await create('ippools', 'IPPool', {
      cidrs: ['192.0.2.0/24', '2001:db8::/120'],
      ranges: [{ start: '198.51.100.10', end: '198.51.100.20' }],
      serviceAllocation: { priority: 10, namespaces: ['web'], serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge'] }] } },
      bgp: { communities: ['65000:100', 'no-export'], largeCommunities: ['65000:1:2'], localPref: 200 },
    })) as { spec: { autoAssign: boolean; avoidBuggyIPs: boolean; bgp: { weightedEcmp: boolean } } };
    assert.equal(o.spec.autoAssign, true);
    assert.equal(o.spec.avoidBuggyIPs, false);
    assert.equal(o.spec.bgp.weightedEcmp, true, 'weighted ECMP on by default');
  });
  const bad: [string, unknown, RegExp][] = [
    ['no addresses', {}, /spec: Invalid value.*at least one CIDR or range/],
    ['CIDR syntax', { cidrs: ['192.0.2.0/33'] }, /spec\.cidrs\[0\].*must be a CIDR/],
    ['CIDR host bits', { cidrs: ['192.0.2.1/24'] }, /spec\.cidrs\[0\].*no host bits/],
    ['range end not an IP', { ranges: [{ start: '192.0.2.1', end: 'x' }] }, /spec\.ranges\[0\]\.end.*must be an IP address/],
    ['range start after end', { ranges: [{ start: '192.0.2.20', end: '192.0.2.10' }] }, /spec\.ranges\[0\].*start must not be after end/],
    ['range mixed families', { ranges: [{ start: '192.0.2.1', end: '2001:db8::1' }] }, /spec\.ranges\[0\].*same IP family/],
    ['community syntax', { cidrs: ['192.0.2.0/24'], bgp: { communities: ['65000-1'] } }, /spec\.bgp\.communities\[0\]/],
    ['large community syntax', { cidrs: ['192.0.2.0/24'], bgp: { largeCommunities: ['1:2'] } }, /spec\.bgp\.largeCommunities\[0\]/],
    ['localPref range', { cidrs: ['192.0.2.0/24'], bgp: { localPref: -1 } }, /spec\.bgp\.localPref/],
    ['selector operator', { cidrs: ['192.0.2.0/24'], serviceAllocation: { serviceSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } } }, /spec\.serviceAllocation\.serviceSelector\.matchExpressions\[0\]\.operator/],
    ['selector In without values', { cidrs: ['192.0.2.0/24'], serviceAllocation: { namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } }, /spec\.serviceAllocation\.namespaceSelector\.matchExpressions\[0\].*need values/],
    ['namespace name', { cidrs: ['192.0.2.0/24'], serviceAllocation: { namespaces: ['Not_A_Name'] } }, /spec\.serviceAllocation\.namespaces\[0\]/],
  ];
  for (const [name, spec, field] of bad) it(`rejects ${name} with 422 naming the field`, () => rejected('ippools', 'IPPool', spec, field));
});

describe('BGPPeer schema', () => {
  it('accepts a valid peer and defaults the port', async () => {
    const o = (await create('bgppeers', 'BGPPeer', {
      address: '192.0.2.1', asn: 65001, holdTimeSeconds: 9, keepaliveSeconds: 3, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
      passwordSecretRef: { name: 'peer-pw', namespace: 'bgpvs-system' }, nodeSelector: { matchLabels: { rack: 'a' } }, families: ['ipv4-unicast', 'ipv6-unicast'],
    })) as { spec: { port: number } };
    assert.equal(o.spec.port, 179);
  });
  const bad: [string, unknown, RegExp][] = [
    ['missing asn', { address: '192.0.2.1' }, /spec\.asn: Required value/],
    ['address not an IP', { address: '192.0.2.300', asn: 65001 }, /spec\.address.*must be an IP address/],
    ['asn 0', { address: '192.0.2.1', asn: 0 }, /spec\.asn/],
    ['asn too big', { address: '192.0.2.1', asn: 4294967296 }, /spec\.asn/],
    ['port 0', { address: '192.0.2.1', asn: 65001, port: 0 }, /spec\.port/],
    ['hold time 2', { address: '192.0.2.1', asn: 65001, holdTimeSeconds: 2 }, /spec\.holdTimeSeconds.*0 or at least 3/],
    ['keepalive ≥ hold', { address: '192.0.2.1', asn: 65001, holdTimeSeconds: 9, keepaliveSeconds: 9 }, /spec: Invalid value.*keepaliveSeconds must be less/],
    ['bfd multiplier', { address: '192.0.2.1', asn: 65001, bfd: { multiplier: 0 } }, /spec\.bfd\.multiplier/],
    ['source family', { address: '192.0.2.1', asn: 65001, sourceAddress: '2001:db8::1' }, /sourceAddress must be of the same IP family/],
    ['family name', { address: '192.0.2.1', asn: 65001, families: ['ipv4'] }, /spec\.families\[0\]/],
    ['secret ref without namespace', { address: '192.0.2.1', asn: 65001, passwordSecretRef: { name: 'x' } }, /spec\.passwordSecretRef\.namespace: Required value/],
  ];
  for (const [name, spec, field] of bad) it(`rejects ${name} with 422 naming the field`, () => rejected('bgppeers', 'BGPPeer', spec, field));
});
