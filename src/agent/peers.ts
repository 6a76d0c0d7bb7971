/**
 * Which peers this node has, and with which global settings: config peers filtered by their
 * node selector, Secret-held passwords filled in, and per-node overrides from the Node's
 * annotations (bgpvs.io/asn, bgpvs.io/router-id), as kube-router does. Pure, but for
 * `resolveSpeakerConfig`, which reads the Node and the Secrets.
 */
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config, StaticPeer } from '../config/config.js';
import type { PeerConfig, SpeakerConfig } from '../bgp/config.js';
import { matchesLabelSelector } from '../desired/node-eligibility.js';
import { parseAsn, parseIp } from '../config/parse.js';
import { weightedEcmpHook } from '../bgp/link-bandwidth.js';

export const ANNOTATION_NODE_ASN = 'bgpvs.io/asn';
export const ANNOTATION_NODE_ROUTER_ID = 'bgpvs.io/router-id';

export const secretKey = (r: { namespace: string; name: string; key: string }) => `${r.namespace}/${r.name}#${r.key}`;

export interface NodePeers {
  peers: PeerConfig[];
  /** Peers left out, with why (a missing Secret is an error the user must see). */
  problems: string[];
}

export function peersForNode(peers: readonly StaticPeer[], node: V1Node | undefined, secrets: ReadonlyMap<string, string>): NodePeers {
  const labels = node?.metadata?.labels ?? {};
  const out: PeerConfig[] = [];
  const problems: string[] = [];
  for (const p of peers) {
    if (p.nodeSelector && !matchesLabelSelector(labels, p.nodeSelector)) continue;
    const { passwordSecret, nodeSelector: _sel, ...rest } = p;
    const peer: PeerConfig = { ...rest };
    if (passwordSecret) {
      const pw = secrets.get(secretKey(passwordSecret));
      if (pw === undefined) {
        problems.push(`peer ${p.address}: password Secret ${passwordSecret.namespace}/${passwordSecret.name} key ${passwordSecret.key} not found; not peering until it exists`);
        continue;
      }
      peer.password = pw;
    }
    out.push(peer);
  }
  return { peers: out, problems };
}

export interface NodeOverrides {
  asn?: number;
  routerId?: string;
  problems: string[];
}

export function nodeOverrides(node: V1Node | undefined): NodeOverrides {
  const a = node?.metadata?.annotations ?? {};
  const out: NodeOverrides = { problems: [] };
  const asn = a[ANNOTATION_NODE_ASN];
  if (asn !== undefined) {
    try {
      out.asn = parseAsn(`annotation ${ANNOTATION_NODE_ASN}`, asn);
    } catch (err) {
      out.problems.push((err as Error).message);
    }
  }
  const rid = a[ANNOTATION_NODE_ROUTER_ID];
  if (rid !== undefined) {
    try {
      out.routerId = parseIp(`annotation ${ANNOTATION_NODE_ROUTER_ID}`, rid);
      if (out.routerId.includes(':')) throw new Error(`annotation ${ANNOTATION_NODE_ROUTER_ID}: a router-id is an IPv4 address`);
    } catch (err) {
      delete out.routerId;
      out.problems.push((err as Error).message);
    }
  }
  return out;
}

/**
 * The speaker config for this node: reads its Node (selectors, overrides) and the peers'
 * password Secrets. Problems (a missing Secret, a bad annotation) are logged as errors and
 * leave out only what they concern.
 */
export async function resolveSpeakerConfig(
  kc: KubeConfig,
  cfg: Readonly<Config>,
  nodeAddress: string,
  poolCidrs: readonly string[],
  log: Logger,
): Promise<SpeakerConfig> {
  const core = kc.makeApiClient(CoreV1Api);
  const node = await core.readNode({ name: cfg.nodeName });
  const secrets = new Map<string, string>();
  for (const p of cfg.bgp.peers) {
    const ref = p.passwordSecret;
    if (!ref) continue;
    try {
      const sec = await core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name });
      const v = sec.data?.[ref.key];
      if (v !== undefined) secrets.set(secretKey(ref), Buffer.from(v, 'base64').toString('utf8'));
    } catch (err) {
      log.warn({ peer: p.address, secret: `${ref.namespace}/${ref.name}`, err }, 'cannot read peer password Secret');
    }
  }
  const { peers, problems } = peersForNode(cfg.bgp.peers, node, secrets);
  const over = nodeOverrides(node);
  for (const why of [...problems, ...over.problems]) log.error({ node: cfg.nodeName }, why);
  const routerId = over.routerId ?? cfg.bgp.routerId;
  const asn = over.asn ?? cfg.bgp.asn;
  const speakerCfg: SpeakerConfig = {
    asn,
    ...(routerId ? { routerId } : {}),
    listenPort: cfg.bgp.listenPort,
    nextHops: nodeAddress.includes(':') ? { IPv6: nodeAddress } : { IPv4: nodeAddress },
    // Reconnect fast: gobgpd 4.8 resets a session on the router's first BFD Down at start-up
    // and would otherwise hold it idle for 30 s.
    peers: peers.map((p) => ({ ...p, connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 })),
    exportCidrs: [...poolCidrs, ...cfg.bgp.exportCidrs],
    // Weighted ECMP: link-bandwidth ∝ ready local endpoints on weighted advertisements.
    linkBandwidth: weightedEcmpHook(asn),
  };
  log.info({ asn: speakerCfg.asn, routerId: speakerCfg.routerId, peers: peers.map((p) => p.address) }, 'BGP speaker config');
  return speakerCfg;
}
