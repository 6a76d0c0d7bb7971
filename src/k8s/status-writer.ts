/**
 * Writes of status subresources: Service status.loadBalancer.ingress and IPPool status.
 * Each carries the resourceVersion we read, so a write based on a stale view fails with 409
 * instead of clobbering a change we have not seen.
 *
 * A Service's status is written as a JSON merge patch of `status` (with that resourceVersion as
 * precondition), never as a PUT of the object: a PUT to services/status also writes the
 * object's labels and annotations, and our cached copies have no foreign annotations
 * (src/k8s/informers.ts `slim`).
 */
import { ApiException, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { IPPOOL_GROUP, IPPOOL_PLURAL, IPPOOL_VERSION, type IPPoolObject } from '../model/ip-pool.js';
import { BGPPEER_GROUP, BGPPEER_PLURAL, BGPPEER_VERSION, type BGPPeerObject } from '../model/bgp-peer.js';

export interface StatusApi {
  /** Returns the stored object; throws ApiException (409 stale, 404 gone). */
  replaceServiceStatus(svc: V1Service): Promise<V1Service>;
  replacePoolStatus(pool: IPPoolObject): Promise<IPPoolObject>;
  replacePeerStatus(peer: BGPPeerObject): Promise<BGPPeerObject>;
}

export function statusApi(kc: KubeConfig): StatusApi {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    replaceServiceStatus: (svc) =>
      core.patchNamespacedServiceStatus(
        {
          namespace: svc.metadata?.namespace ?? '',
          name: svc.metadata?.name ?? '',
          // ingress is a list: a merge patch replaces it whole, as the PUT did
          body: { metadata: { resourceVersion: svc.metadata?.resourceVersion, uid: svc.metadata?.uid }, status: { loadBalancer: svc.status?.loadBalancer ?? {} } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    replacePoolStatus: async (pool) =>
      (await custom.replaceClusterCustomObjectStatus({ group: IPPOOL_GROUP, version: IPPOOL_VERSION, plural: IPPOOL_PLURAL, name: pool.metadata?.name ?? '', body: pool })) as IPPoolObject,
    replacePeerStatus: async (peer) =>
      (await custom.replaceClusterCustomObjectStatus({ group: BGPPEER_GROUP, version: BGPPEER_VERSION, plural: BGPPEER_PLURAL, name: peer.metadata?.name ?? '', body: peer })) as BGPPeerObject,
  };
}

/** 409 Conflict (stale resourceVersion) or 404 (object gone): retry on the next pass, not a failure. */
export function isStale(err: unknown): boolean {
  return err instanceof ApiException && (err.code === 409 || err.code === 404);
}

/** Run `f` over `items` with at most `limit` at a time; collects every failure. */
export async function eachLimit<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<Error[]> {
  const failures: Error[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await f(item);
      } catch (err) {
        failures.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}
