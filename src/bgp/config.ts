/**
 * Pure: the speaker's typed config → gobgpd's global, peer and policy messages.
 * Peers and policies bgpvs creates are recognisable: peers carry a `bgpvs:<hash>`
 * description (the hash of their rendered config, so a change is seen without comparing
 * gobgpd's defaulted echo field by field), policies and sets are named `bgpvs-*`.
 */
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Advertisement, IpFamily } from '../model/types.js';
import {
  FAMILY_IPV4,
  FAMILY_IPV6,
  type DefinedSet,
  type Global,
  type Peer,
  type Policy,
  type PolicyAssignment,
} from './gobgp-client.js';

export interface BfdConfig {
  minRxMs: number;
  minTxMs: number;
  multiplier: number;
}

export interface PeerConfig {
  address: string;
  asn: number;
  /** Remote TCP port; default 179. */
  port?: number;
  password?: string;
  holdTimeSeconds?: number;
  keepaliveSeconds?: number;
  /** How often to retry an outbound connect; default 5 s (gobgpd's own default is 120). */
  connectRetrySeconds?: number;
  /**
   * How long gobgpd waits before reconnecting after a reset (its default: 30 s). Resets
   * happen while BFD comes up (the router's first BFD packets say Down), so a low value
   * gets a BFD-guarded session up sooner.
   */
  idleHoldAfterResetSeconds?: number;
  /** eBGP multihop TTL; unset = directly connected. */
  ebgpMultihop?: number;
  /** gobgpd's native BFD (GoBGP ≥ 4.6). */
  bfd?: BfdConfig;
  gracefulRestart?: { restartTimeSeconds: number; helperOnly?: boolean };
  /** Address families to negotiate; default the families the node has a next hop for. */
  families?: readonly IpFamily[];
  /** Transport local address (source of the TCP session). */
  sourceAddress?: string;
}

export interface SpeakerConfig {
  asn: number;
  /** Default: the node's IPv4 next hop. */
  routerId?: string;
  /** -1 (default): never listen on 179, only connect out. */
  listenPort?: number;
  /** The node's address per family: next hop of every path. */
  nextHops: { IPv4?: string; IPv6?: string };
  peers: readonly PeerConfig[];
  /** Pools and service ranges: the only prefixes (and longer) the export policy lets out. */
  exportCidrs: readonly string[];
  /** Accept routes from peers into gobgpd's RIB (default false: reject everything). */
  importEnabled?: boolean;
  /** Marker large community "G:L1:L2"; default `${asn}:4242:1`. */
  marker?: string;
  /** Weighted ECMP hook: the link-bandwidth extended community for an advertisement. */
  linkBandwidth?: (ad: Advertisement) => { asn: number; bytesPerSecond: number } | undefined;
}

/** Prefix of the export policy's name; the full name carries a hash of the pools. */
export const EXPORT_POLICY = 'bgpvs-export';
export const IMPORT_POLICY = 'bgpvs-import';
export const PEER_TAG = 'bgpvs:';

export function renderGlobal(cfg: SpeakerConfig): Global {
  const routerId = cfg.routerId ?? cfg.nextHops.IPv4;
  if (!routerId) throw new TypeError('bgp: router-id needed (no IPv4 node address to default to)');
  return { asn: cfg.asn, router_id: routerId, listen_port: cfg.listenPort ?? -1, listen_addresses: [] };
}

function familyOf(addr: string): IpFamily {
  return ipaddr.parse(addr).kind() === 'ipv6' ? 'IPv6' : 'IPv4';
}

/** The AddPeer message for one peer, tagged with the hash of its config. */
export function renderPeer(p: PeerConfig, cfg: Pick<SpeakerConfig, 'nextHops'>): Peer {
  const families = p.families ?? (['IPv4', 'IPv6'] as const).filter((f) => cfg.nextHops[f]);
  const fams = families.length ? families : [familyOf(p.address)];
  const peer: Peer = {
    conf: { neighbor_address: p.address, peer_asn: p.asn, auth_password: p.password ?? '' },
    timers: {
      config: {
        connect_retry: String(p.connectRetrySeconds ?? 5),
        ...(p.holdTimeSeconds !== undefined ? { hold_time: String(p.holdTimeSeconds) } : {}),
        ...(p.keepaliveSeconds !== undefined ? { keepalive_interval: String(p.keepaliveSeconds) } : {}),
        ...(p.idleHoldAfterResetSeconds !== undefined ? { idle_hold_time_after_reset: String(p.idleHoldAfterResetSeconds) } : {}),
      },
    },
    transport: {
      ...(p.sourceAddress ? { local_address: p.sourceAddress } : {}),
      ...(p.port !== undefined ? { remote_port: p.port } : {}),
    },
    afi_safis: fams.map((f) => ({
      config: { family: f === 'IPv4' ? FAMILY_IPV4 : FAMILY_IPV6, enabled: true },
      ...(p.gracefulRestart ? { mp_graceful_restart: { config: { enabled: true } } } : {}),
    })),
  };
  if (p.ebgpMultihop !== undefined) peer.ebgp_multihop = { enabled: true, multihop_ttl: p.ebgpMultihop };
  if (p.gracefulRestart) {
    peer.graceful_restart = { enabled: true, restart_time: p.gracefulRestart.restartTimeSeconds, helper_only: p.gracefulRestart.helperOnly ?? false };
  }
  if (p.bfd) {
    peer.bfd = {
      enabled: true,
      desired_minimum_tx_interval: p.bfd.minTxMs * 1000,
      required_minimum_receive: p.bfd.minRxMs * 1000,
      detection_multiplier: p.bfd.multiplier,
    };
  }
  const hash = createHash('sha256').update(JSON.stringify(peer)).digest('hex').slice(0, 16);
  peer.conf.description = `${PEER_TAG}${hash}`;
  return peer;
}

export interface PolicySet {
  definedSets: DefinedSet[];
  policies: Policy[];
  assignments: PolicyAssignment[];
}

/**
 * Export: accept only prefixes inside `exportCidrs` (any length from the CIDR's to a host
 * route), reject everything else. Import: reject everything learned from peers unless
 * enabled; locally originated paths are always accepted.
 *
 * The export policy and its prefix sets are named after a hash of the pools
 * (`bgpvs-export-<hash>`, `...-v4-<hash>`): new pools make a new policy that the speaker
 * switches the global assignment to, because gobgpd (v4.8) does not apply a replaced prefix
 * set to a policy already in use. Both sets always exist; an empty one matches nothing.
 */
export function renderPolicies(cfg: Pick<SpeakerConfig, 'exportCidrs' | 'importEnabled'>): PolicySet {
  const v4: NonNullable<DefinedSet['prefixes']> = [];
  const v6: NonNullable<DefinedSet['prefixes']> = [];
  for (const c of cfg.exportCidrs) {
    const [addr, len] = ipaddr.parseCIDR(c);
    const v6addr = addr.kind() === 'ipv6';
    const net = v6addr ? ipaddr.IPv6.networkAddressFromCIDR(c).toRFC5952String() : ipaddr.IPv4.networkAddressFromCIDR(c).toString();
    (v6addr ? v6 : v4).push({ ip_prefix: `${net}/${len}`, mask_length_min: len, mask_length_max: v6addr ? 128 : 32 });
  }
  const key = (ps: typeof v4) => ps.map((p) => `${p.ip_prefix} ${p.mask_length_min}..${p.mask_length_max}`).sort();
  const hash = createHash('sha256').update(JSON.stringify([key(v4), key(v6)])).digest('hex').slice(0, 10);
  const exportName = `${EXPORT_POLICY}-${hash}`;
  const definedSets: DefinedSet[] = [];
  const statements: Policy['statements'] = [];
  for (const [fam, prefixes] of [['v4', v4], ['v6', v6]] as const) {
    const name = `${EXPORT_POLICY}-${fam}-${hash}`;
    definedSets.push({ defined_type: 'DEFINED_TYPE_PREFIX', name, prefixes });
    statements.push({ name: `${name}-accept`, conditions: { prefix_set: { type: 'TYPE_ANY', name } }, actions: { route_action: 'ROUTE_ACTION_ACCEPT' } });
  }
  const exportPolicy: Policy = { name: exportName, statements };
  const importPolicy: Policy = {
    name: IMPORT_POLICY,
    statements: [{ name: `${IMPORT_POLICY}-local`, conditions: { route_type: 'ROUTE_TYPE_LOCAL' }, actions: { route_action: 'ROUTE_ACTION_ACCEPT' } }],
  };
  return {
    definedSets,
    policies: [exportPolicy, importPolicy],
    assignments: [
      { name: 'global', direction: 'POLICY_DIRECTION_EXPORT', policies: [{ name: exportName }], default_action: 'ROUTE_ACTION_REJECT' },
      {
        name: 'global',
        direction: 'POLICY_DIRECTION_IMPORT',
        policies: [{ name: IMPORT_POLICY }],
        default_action: cfg.importEnabled ? 'ROUTE_ACTION_ACCEPT' : 'ROUTE_ACTION_REJECT',
      },
    ],
  };
}
