import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { KubeApi } from '../rig/kube-api.js';
import { applyObjects, readManifestDir, splitFoundations, waitCrdsEstablished } from '../../lab/apply.js';
import { repoRoot } from '../rig/paths.js';

const dir = join(repoRoot, 'daemonset');

test('daemonset/: every manifest is accepted by the real API server (server-side apply, dry run)', async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const kc = api.kubeConfig();
  const objects = readManifestDir(dir);
  const kinds = new Set(objects.map((o) => o.kind));
  for (const k of ['DaemonSet', 'ConfigMap', 'Namespace']) assert.ok(kinds.has(k), `a ${k} among ${[...kinds].join(', ')}`);
  // Namespaces and CRDs must exist for the objects that live in or use them; the rest is a dry run.
  const { foundations, rest } = splitFoundations(objects);
  await applyObjects(kc, foundations);
  await waitCrdsEstablished(kc, foundations);
  const applied = await applyObjects(kc, rest, { dryRun: true });
  assert.equal(applied.length, rest.length);
  const ds = applied.find((o) => o.kind === 'DaemonSet') as { spec?: { template?: { spec?: { hostNetwork?: boolean } } } } | undefined;
  assert.equal(ds?.spec?.template?.spec?.hostNetwork, true);
  // A broken manifest is refused by the server, naming the field.
  const broken = structuredClone(rest.find((o) => o.kind === 'DaemonSet')!) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'not-a-port';
  await assert.rejects(applyObjects(kc, [broken], { dryRun: true }), /containerPort/);
});

test('daemonset/rbac.yaml: least privilege, checked by the API server (SubjectAccessReview)', async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const kc = api.kubeConfig();
  const objects = readManifestDir(dir).filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind ?? '') && !(o.metadata?.name ?? '').includes('calico'));
  await applyObjects(kc, objects);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const can = async (verb: string, resource: string, o: { namespace?: string; name?: string; group?: string; subresource?: string } = {}) =>
    (
      await authz.createSubjectAccessReview({
        body: { spec: { user: 'system:serviceaccount:bgpvs-system:bgpvs', groups: ['system:serviceaccounts', 'system:serviceaccounts:bgpvs-system', 'system:authenticated'], resourceAttributes: { verb, resource, group: o.group ?? '', ...o } } },
      })
    ).status?.allowed === true;
  const rows: [string, boolean, boolean][] = [
    ['get secret in bgpvs-system', await can('get', 'secrets', { namespace: 'bgpvs-system', name: 'peer-pw' }), true],
    ['get secret in default', await can('get', 'secrets', { namespace: 'default', name: 'peer-pw' }), false],
    ['list secrets in bgpvs-system', await can('list', 'secrets', { namespace: 'bgpvs-system' }), false],
    ['update own lease', await can('update', 'leases', { group: 'coordination.k8s.io', namespace: 'bgpvs-system', name: 'bgpvs-ipam' }), true],
    ['update another lease', await can('update', 'leases', { group: 'coordination.k8s.io', namespace: 'bgpvs-system', name: 'other' }), false],
    ['create lease in kube-system', await can('create', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-system' }), false],
    ['patch services/status', await can('patch', 'services', { namespace: 'default', subresource: 'status' }), true],
    ['update services/status', await can('update', 'services', { namespace: 'default', subresource: 'status' }), false],
    ['update a service', await can('update', 'services', { namespace: 'default' }), false],
    ['create events', await can('create', 'events', { namespace: 'default' }), true],
  ];
  assert.deepEqual(rows.map(([w, got]) => [w, got]), rows.map(([w, , want]) => [w, want]));
});
