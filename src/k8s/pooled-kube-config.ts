/**
 * client-node 1.x builds a fresh https.Agent for every API request (no keep-alive), so each
 * call pays a TLS handshake on both ends. A controller writing thousands of statuses spends
 * most of its CPU there. This KubeConfig hands every request one shared keep-alive agent
 * built from the same TLS options (authentication headers are still set per request).
 */
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

export class PooledKubeConfig extends KubeConfig {
  private agent: https.Agent | undefined;

  constructor(private readonly maxSockets = 32) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getAgent();
    // Only a plain TLS agent is pooled (proxy agents are left as they are).
    if (!fresh || fresh.constructor !== https.Agent) return;
    this.agent ??= new https.Agent({ ...(fresh as https.Agent).options, keepAlive: true, maxSockets: this.maxSockets });
    context.setAgent(this.agent);
  }

  /** Close idle pooled connections. */
  destroy(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

/** A copy of `kc` (same clusters, users, current context) whose API clients share one keep-alive agent. */
export function pooledKubeConfig(kc: KubeConfig, maxSockets?: number): PooledKubeConfig {
  const p = new PooledKubeConfig(maxSockets);
  p.loadFromString(kc.exportConfig());
  return p;
}
