/**
 * client-node 1.x builds a fresh https.Agent for every API request (no keep-alive), so each
 * call pays a TLS handshake on both ends. A controller writing thousands of statuses spends
 * most of its CPU there. This KubeConfig hands every request one shared keep-alive agent
 * built from the same TLS options (authentication headers are still set per request).
 *
 * Every request also gets a deadline (`requestTimeoutMs`, an AbortSignal): client-node sets
 * none, so a request to an API server that stopped answering without closing the connection
 * would wait for ever, and with a bounded pool the requests queued behind it would too.
 */
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

export interface PooledOptions {
  maxSockets?: number;
  /** Deadline of each request, from when it is issued (default 30 s). */
  requestTimeoutMs?: number;
}

export class PooledKubeConfig extends KubeConfig {
  private agent: https.Agent | undefined;
  private readonly maxSockets: number;
  private readonly requestTimeoutMs: number;

  constructor(o: PooledOptions = {}) {
    super();
    this.maxSockets = o.maxSockets ?? 32;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (!context.getSignal()) context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
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
export function pooledKubeConfig(kc: KubeConfig, maxSockets?: number, o: Omit<PooledOptions, 'maxSockets'> = {}): PooledKubeConfig {
  const p = new PooledKubeConfig({ ...o, ...(maxSockets !== undefined ? { maxSockets } : {}) });
  p.loadFromString(kc.exportConfig());
  return p;
}
