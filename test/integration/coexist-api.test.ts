/**
 * The API half of the coexistence check against a real kube-apiserver: Calico's and Cilium's
 * BGP kinds count only once a CRD of that group serves them. The CRDs here are minimal
 * stand-ins written for this test (same group, version and plural as Calico's and Cilium's);
 * neither CNI runs here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiextensionsV1Api, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { KubeApi } from '../rig/kube-api.js';
import { checkCoexistence, cniBgpFromDiscovery, CoexistenceError, discoverCniResources } from '../../src/coexist/findings.js';
import { waitFor } from '../../src/util/wait.js';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { CalicoServiceIpsWriter } from '../../src/coexist/calico-delegate.js';

function crd(group: string, version: string, kind: string, plural: string, scope: 'Cluster' | 'Namespaced'): V1CustomResourceDefinition {
  return {
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
    },
  };
}

test('discovery finds Calico and Cilium BGP kinds only when served; the check refuses dedicated-from-node-address and accepts delegate', { timeout: 120_000 }, async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const kc = api.kubeConfig();
  assert.deepEqual(cniBgpFromDiscovery(await discoverCniResources(kc)), { calicoBgp: false, ciliumBgp: false });

  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({ body: crd('crd.projectcalico.org', 'v1', 'IPPool', 'ippools', 'Cluster') });
  await ext.createCustomResourceDefinition({ body: crd('crd.projectcalico.org', 'v1', 'BGPConfiguration', 'bgpconfigurations', 'Cluster') });
  const calico = await waitFor('Calico BGPConfiguration served', async () => {
    const f = cniBgpFromDiscovery(await discoverCniResources(kc));
    return f.calicoBgp ? f : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250 });
  assert.deepEqual(calico, { calicoBgp: true, ciliumBgp: false });

  await ext.createCustomResourceDefinition({ body: crd('cilium.io', 'v2alpha1', 'CiliumBGPPeeringPolicy', 'ciliumbgppeeringpolicies', 'Cluster') });
  await waitFor('Cilium peering policy served', async () => ((await discoverCniResources(kc)).get('cilium.io')?.get('v2alpha1')?.includes('ciliumbgppeeringpolicies') ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });

  const src = { listeners: async () => [], served: () => discoverCniResources(kc) };
  const base = { nodeAddress: '10.0.0.11', peers: [{ address: '10.0.0.1', port: 179 }], allowWriteCniConfig: true };
  await assert.rejects(checkCoexistence({ ...base, mode: 'dedicated' }, src), (e: unknown) => {
    t.diagnostic(`refusal: ${(e as Error).message}`);
    return e instanceof CoexistenceError && /Calico BGP resources/.test(e.message) && /Cilium BGP resources/.test(e.message);
  });
  const ok = await checkCoexistence({ ...base, mode: 'delegate' }, src);
  assert.match(ok.notes.join(' '), /Calico will advertise/);
});

test('delegate: bgpvs writes the pool CIDRs into Calico\'s BGPConfiguration default (created when absent, others\' entries kept), once; a second ensure writes nothing', { timeout: 120_000 }, async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const kc = api.kubeConfig();
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd('crd.projectcalico.org', 'v1', 'BGPConfiguration', 'bgpconfigurations', 'Cluster') });
  await waitFor('BGPConfiguration served', async () => (cniBgpFromDiscovery(await discoverCniResources(kc)).calicoBgp ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
  const w = new CalicoServiceIpsWriter(kc);
  assert.equal(await w.ensure(['10.100.0.0/24']), true, 'created');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: 'crd.projectcalico.org', version: 'v1', plural: 'bgpconfigurations', name: 'default' };
  const obj = (await custom.getClusterCustomObject(ref)) as { spec: { serviceLoadBalancerIPs: unknown; asNumber?: number } };
  assert.deepEqual(obj.spec.serviceLoadBalancerIPs, [{ cidr: '10.100.0.0/24' }]);
  // Someone (the cluster admin) sets their own fields and entries; a new pool keeps them.
  await custom.replaceClusterCustomObject({ ...ref, body: { ...obj, spec: { ...obj.spec, asNumber: 65001, serviceLoadBalancerIPs: [{ cidr: '10.100.0.0/24' }, { cidr: '192.0.2.0/24' }] } } });
  assert.equal(await w.ensure(['10.100.0.0/24', '10.101.0.0/24']), true);
  const after = (await custom.getClusterCustomObject(ref)) as { spec: { serviceLoadBalancerIPs: unknown; asNumber?: number } };
  assert.deepEqual(after.spec.serviceLoadBalancerIPs, [{ cidr: '10.100.0.0/24' }, { cidr: '192.0.2.0/24' }, { cidr: '10.101.0.0/24' }]);
  assert.equal(after.spec.asNumber, 65001);
  assert.equal(await w.ensure(['10.100.0.0/24', '10.101.0.0/24']), false, 'second ensure: nothing to write');
});
