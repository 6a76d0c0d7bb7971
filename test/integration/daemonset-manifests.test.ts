import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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
