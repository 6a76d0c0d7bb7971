import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApi } from '../../src/rig/kube-api.js';
import { applyObjects, readManifests } from '../../src/lab/apply.js';
import { repoRoot } from '../../src/rig/paths.js';

const dir = join(repoRoot, 'daemonset');

test('daemonset/: every manifest is accepted by the real API server (server-side apply, dry run)', async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const kc = api.kubeConfig();
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.includes('daemonset.yaml') && files.includes('configmap.yaml'), `manifests found: ${files.join(', ')}`);
  const objects = files.flatMap((f) => readManifests(join(dir, f)));
  // Namespaces and CRDs must exist for the objects that live in or use them; the rest is a dry run.
  const foundations = objects.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
  await applyObjects(kc, foundations);
  const rest = objects.filter((o) => !foundations.includes(o));
  const applied = await applyObjects(kc, rest, { dryRun: true });
  assert.equal(applied.length, rest.length);
  const ds = applied.find((o) => o.kind === 'DaemonSet') as { spec?: { template?: { spec?: { hostNetwork?: boolean } } } } | undefined;
  assert.equal(ds?.spec?.template?.spec?.hostNetwork, true);
  // A broken manifest is refused by the server, naming the field.
  const broken = structuredClone(rest.find((o) => o.kind === 'DaemonSet')!) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'not-a-port';
  await assert.rejects(applyObjects(kc, [broken], { dryRun: true }), /containerPort/);
});
