/**
 * Which peers this node has, and with which global settings: config peers and BGPPeer
 * objects, filtered by their node selector, Secret-held passwords filled in, and per-node
 * overrides from the Node's annotations (bgpvs.io/asn, bgpvs.io/router-id), as kube-router
 * does. Pure: the Secrets come from the pass's observation (src/k8s/secrets.ts).
 */
import type { V1Node } from '@kubernetes/client-node';
import type { Config, StaticPeer } from '../config/config.js';
import type { PeerConfig, SpeakerConfig } from '../bgp/config.js';
import { selectorMatches } from '../model/selector.js';
import type { BGPPeerObject } from '../model/bgp-peer.js';
import { parseAsn, parseIp } from '../config/parse.js';
import { peerFromSpec, type Peer } from '../config/peer.js';
import { weightedEcmpHook } from '../bgp/link-bandwidth.js';

export const ANNOTATION_NODE_ASN = 'bgpvs.io/asn';
export const ANNOTATION_NODE_ROUTER_ID = 'bgpvs.io/router-id';

import { secretKey } from '../model/secret-ref.js';

export { secretKey };

/** A peer from config or from a BGPPeer object (`source` says which, for logs and status). */
export type PeerSource = Peer & { source?: string };

/**
 * A BGPPeer object → a peer, or why it cannot be used: the same check as a static peer's
 * (config/peer.ts). Admission rejects most bad input; this catches objects written before a
 * schema change and what admission cannot know (e.g. localASN, not supported yet).
 */
export function peerFromObject(o: BGPPeerObject): { peer: PeerSource } | { problem: string } {
  try {
    return { peer: { ...peerFromSpec('spec', o.spec), source: `BGPPeer/${o.metadata?.name ?? ''}` } };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/**
 * Config peers first, then BGPPeer objects (sorted by name); a BGPPeer for an address a
 * config peer or an earlier object already has is left out, with why.
 */
export function mergePeers(config: readonly StaticPeer[], objects: readonly BGPPeerObject[]): { peers: PeerSource[]; problems: { name: string; reason: string }[] } {
  const peers: PeerSource[] = config.map((p) => ({ ...p, source: 'config' }));
  const seen = new Map(peers.map((p) => [p.address, 'the agent config']));
  const problems: { name: string; reason: string }[] = [];
  for (const o of [...objects].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
    const name = o.metadata?.name ?? '';
    const r = peerFromObject(o);
    if ('problem' in r) {
      problems.push({ name, reason: r.problem });
      continue;
    }
    const dup = seen.get(r.peer.address);
    if (dup) {
      problems.push({ name, reason: `spec.address ${r.peer.address}: already a peer from ${dup}` });
      continue;
    }
    seen.set(r.peer.address, `BGPPeer ${name}`);
    peers.push(r.peer);
  }
  return { peers, problems };
}

export interface NodePeers {
  peers: PeerConfig[];
  /** Peers left out, with why (a missing Secret is an error the user must see). */
  problems: string[];
}

export function peersForNode(peers: readonly PeerSource[], node: V1Node | undefined, secrets: ReadonlyMap<string, string>): NodePeers {
  const labels = node?.metadata?.labels ?? {};
  const out: PeerConfig[] = [];
  const problems: string[] = [];
  for (const p of peers) {
    if (!selectorMatches(p.nodeSelector, labels)) continue;
    const { passwordSecret, nodeSelector: _sel, source: _src, ...rest } = p;
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
 * Pure: the speaker config for this node from its Node object, the peers (config and
 * BGPPeer objects), their Secrets and the pools' CIDRs. Problems (a missing Secret, a bad
 * annotation) leave out only what they concern and are returned.
 */
export function speakerConfigFor(
  cfg: Readonly<Config>,
  nodeAddress: string,
  node: V1Node | undefined,
  peerSources: readonly PeerSource[],
  secrets: ReadonlyMap<string, string>,
  poolCidrs: readonly string[],
): { config: SpeakerConfig; problems: string[] } {
  const { peers, problems } = peersForNode(peerSources, node, secrets);
  const over = nodeOverrides(node);
  const routerId = over.routerId ?? cfg.bgp.routerId;
  const asn = over.asn ?? cfg.bgp.asn;
  const config: SpeakerConfig = {
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
  return { config, problems: [...problems, ...over.problems] };
}
