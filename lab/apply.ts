/**
 * Apply multi-document YAML manifests to an API server, like `kubectl apply --server-side`:
 * server-side apply with our field manager, optionally as a server-side dry run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ApiextensionsV1Api, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { waitFor } from '../src/util/wait.js';
import { BgpvsError } from '../src/errors.js';

export function readManifests(path: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new BgpvsError(`${path}: ${d.errors[0]!.message}`);
      return d.toJS() as KubernetesObject | null;
    })
    .filter((o): o is KubernetesObject => !!o && typeof o === 'object' && !!o.kind);
}

/** Every manifest under `dir` (recursively, *.yaml), in path order. */
export function readManifestDir(dir: string): KubernetesObject[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => readManifests(join(dir, f)));
}

/** Namespaces and CRDs first (the rest lives in or uses them), then everything else. */
export function splitFoundations(objects: readonly KubernetesObject[]): { foundations: KubernetesObject[]; rest: KubernetesObject[] } {
  const isFoundation = (o: KubernetesObject) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition';
  return { foundations: objects.filter(isFoundation), rest: objects.filter((o) => !isFoundation(o)) };
}

export async function applyObjects(
  kc: KubeConfig,
  objects: readonly KubernetesObject[],
  opts: { dryRun?: boolean; fieldManager?: string } = {},
): Promise<KubernetesObject[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const out: KubernetesObject[] = [];
  for (const o of objects) {
    try {
      out.push(
        await api.patch(
          o,
          undefined,
          opts.dryRun ? 'All' : undefined,
          opts.fieldManager ?? 'bgpvs',
          true,
          PatchStrategy.ServerSideApply,
        ),
      );
    } catch (err) {
      throw new BgpvsError(`apply ${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** Wait until every CRD among `objects` is Established (served), as kubectl wait would. */
export async function waitCrdsEstablished(kc: KubeConfig, objects: readonly KubernetesObject[], timeoutMs = 30_000): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const o of objects.filter((x) => x.kind === 'CustomResourceDefinition')) {
    const name = o.metadata!.name!;
    await waitFor(
      `CRD ${name} established`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }
}
