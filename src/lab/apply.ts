/**
 * Apply multi-document YAML manifests to an API server, like `kubectl apply --server-side`:
 * server-side apply with our field manager, optionally as a server-side dry run.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { BgpvsError } from '../errors.js';

export function readManifests(path: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new BgpvsError(`${path}: ${d.errors[0]!.message}`);
      return d.toJS() as KubernetesObject | null;
    })
    .filter((o): o is KubernetesObject => !!o && typeof o === 'object' && !!o.kind);
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
