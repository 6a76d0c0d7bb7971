/** Shared set-up for the k8s-* integration tests: a real API server with our CRDs and RBAC applied. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  loadAllYaml,
  type CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  type KubernetesObject,
  type V1Service,
} from '@kubernetes/client-node';
import type { IPPoolObject } from '../../src/model/ip-pool.js';
import { KubeApi } from './kube-api.js';
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

export const poolApi = (kc: KubeConfig) => {
  const co = kc.makeApiClient(CustomObjectsApi);
  const g = { group: 'bgpvs.io', version: 'v1alpha1', plural: 'ippools' };
  return {
    create: (name: string, spec: object) => co.createClusterCustomObject({ ...g, body: { apiVersion: 'bgpvs.io/v1alpha1', kind: 'IPPool', metadata: { name }, spec } }),
    get: async (name: string) => (await co.getClusterCustomObject({ ...g, name })) as IPPoolObject,
    list: async () => ((await co.listClusterCustomObject(g)) as { items: IPPoolObject[] }).items,
    delete: (name: string) => co.deleteClusterCustomObject({ ...g, name }),
  };
};

export interface LbOpts {
  lbIP?: string;
  annotations?: Record<string, string>;
  ports?: [number, string?][];
  labels?: Record<string, string>;
  families?: string[];
  policy?: string;
  etp?: string;
}

export function lbService(ns: string, name: string, o: LbOpts = {}): V1Service {
  return {
    metadata: { name, namespace: ns, annotations: o.annotations ?? {}, labels: o.labels ?? {} },
    spec: {
      type: 'LoadBalancer',
      ...(o.lbIP ? { loadBalancerIP: o.lbIP } : {}),
      ...(o.families ? { ipFamilies: o.families, ipFamilyPolicy: o.policy ?? 'RequireDualStack' } : {}),
      ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
      allocateLoadBalancerNodePorts: false,
      ports: (o.ports ?? [[80]]).map(([port, protocol]) => ({ name: `p${port}${(protocol ?? 'tcp').toLowerCase()}`, port, protocol: protocol ?? 'TCP' })),
    },
  };
}

export const ipsOf = (s: V1Service | undefined) => (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');

export async function waitIps(core: CoreV1Api, ns: string, name: string, pred: (ips: string[]) => boolean = (ips) => ips.length > 0, timeoutMs = 10_000): Promise<string[]> {
  return waitFor(`${ns}/${name} status`, async () => {
    const ips = ipsOf(await core.readNamespacedServiceStatus({ namespace: ns, name }));
    return pred(ips) ? ips : undefined;
  }, { timeoutMs, intervalMs: 20 });
}

/** Events on an object, from the API. */
export async function eventsFor(core: CoreV1Api, ns: string, name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

export async function ensureNamespace(core: CoreV1Api, name: string, labels: Record<string, string> = {}): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}
