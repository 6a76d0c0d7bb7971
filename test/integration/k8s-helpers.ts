/** Shared set-up for the k8s-* integration tests: a real API server with our CRDs and RBAC applied. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, KubernetesObjectApi, loadAllYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { KubeApi } from '../../src/rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';

const root = join(import.meta.dirname, '..', '..');

export function manifest(rel: string): KubernetesObject[] {
  // loadAllYaml deserializes into client-node's models (x-kubernetes-validations → xKubernetesValidations),
  // which its serializer expects; plain YAML objects would lose those keys on the way out.
  return (loadAllYaml(readFileSync(join(root, rel), 'utf8')) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => o !== null);
}

export async function applyAll(kc: KubeConfig, objs: readonly KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) await api.create(o);
}

/** A fresh API server with the bgpvs CRDs (Established) and the agent's RBAC. */
export async function startCluster(): Promise<{ api: KubeApi; admin: KubeConfig; agentKc: () => Promise<KubeConfig> }> {
  const api = await KubeApi.start();
  const admin = api.kubeConfig();
  await applyAll(admin, [...manifest('daemonset/crds/ippool.yaml'), ...manifest('daemonset/crds/bgppeer.yaml')]);
  const ext = admin.makeApiClient(ApiextensionsV1Api);
  for (const name of ['ippools.bgpvs.io', 'bgppeers.bgpvs.io']) {
    await waitFor(`CRD ${name} established`, async () => {
      const crd = await ext.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    }, { timeoutMs: 20_000 });
  }
  // The ServiceAccount's namespace first (the token helper creates the SA), then RBAC.
  await api.serviceAccountToken('bgpvs-system', 'bgpvs');
  await applyAll(admin, manifest('daemonset/rbac.yaml').filter((o) => o.kind !== 'ServiceAccount'));
  return { api, admin, agentKc: () => api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false }) };
}
