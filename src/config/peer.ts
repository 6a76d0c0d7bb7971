/**
 * A BGP peer from a BGPPeer spec, wherever the spec comes from: a BGPPeer object
 * (`spec.holdTimeSeconds: …`) or a static peer in --bgp.peers / the ConfigMap's bgp.peers
 * (`--bgp.peers[0].holdTimeSeconds: …`). The shape is the CRD's schema (model/crd-schema.ts);
 * this adds what the schema's CEL rules and the agent say beyond it.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../errors.js';
import { checkSpec } from '../model/crd-schema.js';
import type { LabelSelector } from '../model/selector.js';
import type { IpFamily } from '../model/types.js';
import { DEFAULT_GR_RESTART_SECONDS, parseAsn, parseIp, parsePeerFamilies } from './parse.js';

/** A peer ready for the node: typed, canonical, defaults applied. */
export interface Peer {
  address: string;
  asn: number;
  port: number;
  /** The password is the value of this key of a Secret (read by the agent, never logged). */
  passwordSecret?: { namespace: string; name: string; key: string };
  /** Only nodes whose labels match peer with this router; absent = every node. */
  nodeSelector?: LabelSelector;
  holdTimeSeconds?: number;
  keepaliveSeconds?: number;
  bfd?: { minRxMs: number; minTxMs: number; multiplier: number };
  ebgpMultihop?: number;
  sourceAddress?: string;
  gracefulRestart?: { restartTimeSeconds: number; helperOnly: boolean };
  /** Address families to negotiate; default: the families the node has a next hop for. */
  families?: IpFamily[];
}

/** ASNs no BGP session may use: AS_TRANS (RFC 6793) and the last 16- and 32-bit ASNs (RFC 7300). */
export const RESERVED_ASNS: readonly number[] = [23456, 65535, 4294967295];

/** Loopback, unspecified and multicast addresses cannot be BGP neighbours. */
function checkPeerAddress(field: string, ip: string): void {
  const r = ipaddr.parse(ip).range();
  if (r === 'loopback' || r === 'unspecified' || r === 'multicast') throw new ConfigError(field, `must not be a loopback, unspecified or multicast address: ${ip}`);
}

function checkAsn(field: string, asn: number): number {
  if (RESERVED_ASNS.includes(asn)) throw new ConfigError(field, `is a reserved ASN (23456 is AS_TRANS, 65535 and 4294967295 are reserved): ${asn}`);
  return asn;
}

const BFD_DEFAULTS = { minRxMs: 300, minTxMs: 300, multiplier: 3 };

/** A BGPPeer spec → a Peer, or a ConfigError naming the field under `field` (`spec`, `--bgp.peers[0]`). */
export function peerFromSpec(field: string, raw: unknown): Peer {
  const s = checkSpec('BGPPeer', field, raw);
  const f = (k: string) => `${field}.${k}`;
  // The CEL rules of daemonset/crds/bgppeer.yaml, and what the agent cannot do yet.
  const address = parseIp(f('address'), s.address);
  const sourceAddress = s.sourceAddress === undefined ? undefined : parseIp(f('sourceAddress'), s.sourceAddress);
  checkPeerAddress(f('address'), address);
  if (sourceAddress !== undefined) checkPeerAddress(f('sourceAddress'), sourceAddress);
  if (s.localASN !== undefined) checkAsn(f('localASN'), s.localASN);
  if (sourceAddress !== undefined && sourceAddress.includes(':') !== address.includes(':')) throw new ConfigError(field, 'sourceAddress must be of the same IP family as address');
  if (s.holdTimeSeconds !== undefined && s.holdTimeSeconds !== 0 && s.holdTimeSeconds < 3) throw new ConfigError(f('holdTimeSeconds'), `must be 0 or at least 3: ${s.holdTimeSeconds}`);
  if (s.keepaliveSeconds !== undefined && s.holdTimeSeconds && s.keepaliveSeconds >= s.holdTimeSeconds) throw new ConfigError(field, 'keepaliveSeconds must be less than holdTimeSeconds');
  if (s.localASN !== undefined) throw new ConfigError(f('localASN'), 'not supported yet (the node ASN comes from --bgp.asn or the bgpvs.io/asn Node annotation)');
  const peer: Peer = { address, asn: parseAsn(f('asn'), String(checkAsn(f('asn'), s.asn))), port: s.port ?? 179 };
  if (s.passwordSecretRef) peer.passwordSecret = { namespace: s.passwordSecretRef.namespace, name: s.passwordSecretRef.name, key: s.passwordSecretRef.key ?? 'password' };
  if (s.nodeSelector) peer.nodeSelector = s.nodeSelector;
  if (s.holdTimeSeconds !== undefined) peer.holdTimeSeconds = s.holdTimeSeconds;
  if (s.keepaliveSeconds !== undefined) peer.keepaliveSeconds = s.keepaliveSeconds;
  if (s.bfd && s.bfd.enabled !== false) peer.bfd = { minRxMs: s.bfd.minRxMs ?? BFD_DEFAULTS.minRxMs, minTxMs: s.bfd.minTxMs ?? BFD_DEFAULTS.minTxMs, multiplier: s.bfd.multiplier ?? BFD_DEFAULTS.multiplier };
  if (s.ebgpMultihop !== undefined) peer.ebgpMultihop = s.ebgpMultihop;
  if (sourceAddress !== undefined) peer.sourceAddress = sourceAddress;
  // Helper only unless asked: the router then keeps no stale routes of a node whose session drops.
  if (s.gracefulRestart?.enabled) peer.gracefulRestart = { restartTimeSeconds: s.gracefulRestart.restartTimeSeconds ?? DEFAULT_GR_RESTART_SECONDS, helperOnly: !s.gracefulRestart.preserveForwarding };
  if (s.families) peer.families = parsePeerFamilies(f('families'), s.families);
  return peer;
}
