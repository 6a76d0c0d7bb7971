/**
 * The CRD schemas reject malformed pools and peers at admission: the real API server answers
 * 422 (Invalid) and the message names the offending field. Valid objects are accepted. The
 * bad cases are test/rig/crd-cases.ts, which the agent's own check (crd-schemas unit test)
 * runs too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubeApi } from '../rig/kube-api.js';
import { startCluster } from '../rig/k8s-helpers.js';
import { BAD_PEERS, BAD_POOLS } from '../rig/crd-cases.js';

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
  for (const c of BAD_POOLS) it(`rejects ${c.name} with 422 naming the field`, () => rejected('ippools', 'IPPool', c.spec, c.apiServer));
});

describe('BGPPeer schema', () => {
  it('accepts a valid peer and defaults the port', async () => {
    const o = (await create('bgppeers', 'BGPPeer', {
      address: '192.0.2.1', asn: 65001, holdTimeSeconds: 9, keepaliveSeconds: 3, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
      passwordSecretRef: { name: 'peer-pw', namespace: 'bgpvs-system' }, nodeSelector: { matchLabels: { rack: 'a' } }, families: ['ipv4-unicast', 'ipv6-unicast'],
    })) as { spec: { port: number } };
    assert.equal(o.spec.port, 179);
  });
  for (const c of BAD_PEERS) it(`rejects ${c.name} with 422 naming the field`, () => rejected('bgppeers', 'BGPPeer', c.spec, c.apiServer));
});
