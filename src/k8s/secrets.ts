/**
 * The observe step's Secret reads: the values of the Secret keys the peers refer to (BGP
 * passwords). Read again only when the set of references changes; a Secret that is missing or
 * unreadable is absent from the result, with a warning (the pure step reports the peer it
 * leaves out). Values are never logged.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { secretKey, type SecretKeyRef } from '../model/secret-ref.js';

export interface SecretSource {
  read(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** Secrets through the API (base64 data). */
export function apiSecretSource(kc: KubeConfig): SecretSource {
  const core = kc.makeApiClient(CoreV1Api);
  return { read: async (namespace, name) => (await core.readNamespacedSecret({ namespace, name })).data };
}

export class PeerSecrets {
  private key: string | undefined;
  private values: ReadonlyMap<string, string> = new Map();

  /** `namespace`: the only namespace read; a reference elsewhere is refused without a request (least privilege: RBAC grants this one only). */
  constructor(private readonly d: { source: SecretSource; logger: Logger; namespace?: string }) {}

  /** secretKey(ref) → value, for every readable ref. */
  async read(refs: readonly SecretKeyRef[]): Promise<ReadonlyMap<string, string>> {
    const wanted = [...new Map(refs.map((r) => [secretKey(r), r])).values()].sort((a, b) => (secretKey(a) < secretKey(b) ? -1 : 1));
    const key = JSON.stringify(wanted.map(secretKey));
    if (key === this.key) return this.values;
    const out = new Map<string, string>();
    for (const ref of wanted) {
      if (this.d.namespace !== undefined && ref.namespace !== this.d.namespace) {
        this.d.logger.warn({ secret: `${ref.namespace}/${ref.name}`, allowed: this.d.namespace }, 'peer password Secret outside the allowed namespace: not read');
        continue;
      }
      try {
        const v = (await this.d.source.read(ref.namespace, ref.name))?.[ref.key];
        if (v !== undefined) out.set(secretKey(ref), Buffer.from(v, 'base64').toString('utf8'));
      } catch (err) {
        this.d.logger.warn({ secret: `${ref.namespace}/${ref.name}`, err }, 'cannot read peer password Secret');
      }
    }
    this.key = key;
    this.values = out;
    return out;
  }
}
