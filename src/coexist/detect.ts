/**
 * Coexisting with a CNI's own BGP speaker (Calico's BIRD, Cilium, kube-router): most routers
 * accept one session per neighbour address, so a second speaker on the node knocks one out.
 * This module decides, from what was found on the node and in the API, whether the chosen
 * mode can work, and says what was found and which mode fits when it can't. Pure.
 */
import ipaddr from 'ipaddr.js';

import type { CoexistMode } from '../config/config.js';

export type { CoexistMode };

export interface Findings {
  /** Addresses with a TCP listener on port 179 on this node (from /proc/net/tcp{,6}). */
  port179Listeners: readonly string[];
  /** Calico BGP resources in the API (crd.projectcalico.org BGPConfiguration / BGPPeer). */
  calicoBgp: boolean;
  /** Cilium BGP resources in the API (cilium.io CiliumBGPPeeringPolicy / CiliumBGPClusterConfig). */
  ciliumBgp: boolean;
}

export interface PeerIntent {
  address: string;
  /** Router-side port; 179 unless set. */
  port: number;
  /** Local address bgpvs connects from; the node address unless set. */
  sourceAddress?: string;
}

export interface CoexistInput {
  mode: CoexistMode;
  nodeAddress: string;
  peers: readonly PeerIntent[];
  findings: Findings;
  /** delegate: bgpvs may write the CNI's BGP configuration. */
  allowWriteCniConfig: boolean;
}

export type CoexistDecision = { ok: true; notes: string[] } | { ok: false; message: string };

function foundText(f: Findings): string {
  const parts: string[] = [];
  if (f.port179Listeners.length) parts.push(`a BGP speaker listening on ${f.port179Listeners.map((a) => `${a}:179`).join(', ')}`);
  if (f.calicoBgp) parts.push('Calico BGP resources (crd.projectcalico.org BGPConfiguration/BGPPeer)');
  if (f.ciliumBgp) parts.push('Cilium BGP resources (cilium.io)');
  return parts.length ? parts.join(' and ') : 'no other BGP speaker';
}

export function cniSpeakerPresent(f: Findings): boolean {
  return f.port179Listeners.length > 0 || f.calicoBgp || f.ciliumBgp;
}

export function decideCoexistence(i: CoexistInput): CoexistDecision {
  const found = foundText(i.findings);
  const present = cniSpeakerPresent(i.findings);
  switch (i.mode) {
    case 'dedicated': {
      if (!present) return { ok: true, notes: [`found ${found}`] };
      // Our session is distinct from the CNI's only if it differs in source address or router port.
      const clashing = i.peers.filter((p) => p.port === 179 && (p.sourceAddress === undefined || p.sourceAddress === i.nodeAddress));
      if (clashing.length === 0) return { ok: true, notes: [`found ${found}; every peer uses its own source address or router port`] };
      return {
        ok: false,
        message:
          `coexistence mode "dedicated" refused: found ${found}. Peering with ${clashing.map((p) => p.address).join(', ')} ` +
          `from the node address ${i.nodeAddress} to port 179 would open a second session beside the CNI's, and most routers ` +
          `keep only one per neighbour address. Give those peers a sourceAddress other than the node address or a router-side ` +
          `port other than 179, or use mode "via-local-speaker" (peer with the node's CNI speaker) or "delegate" (the CNI advertises).`,
      };
    }
    case 'via-local-speaker': {
      if (i.findings.port179Listeners.length > 0) return { ok: true, notes: [`found ${found}`] };
      return {
        ok: false,
        message: `coexistence mode "via-local-speaker" refused: found ${found}, but no local speaker listens on port 179 on this node. Use mode "dedicated" when no CNI speaker runs here.`,
      };
    }
    case 'delegate': {
      if (i.findings.calicoBgp && i.allowWriteCniConfig) return { ok: true, notes: [`found ${found}; Calico will advertise the pools`] };
      if (i.findings.calicoBgp || i.findings.ciliumBgp) {
        return {
          ok: true,
          notes: [`found ${found}; bgpvs will not write the CNI's configuration: make it advertise the pool CIDRs (Calico: BGPConfiguration spec.serviceLoadBalancerIPs)`],
        };
      }
      return {
        ok: false,
        message: `coexistence mode "delegate" refused: found ${found}; no CNI BGP configuration exists to advertise the VIPs. Use mode "dedicated".`,
      };
    }
  }
}

/**
 * Addresses listening on TCP port 179, from /proc/net/tcp or /proc/net/tcp6 text.
 * Rows: "sl local_address rem_address st ..." with hex addr:port, st 0A = LISTEN.
 */
export function listenersOnPort(procNetTcp: string, port: number): string[] {
  const out: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== '0A') continue;
    const [addrHex, portHex] = (cols[1] ?? '').split(':');
    if (!addrHex || !portHex || parseInt(portHex, 16) !== port) continue;
    out.push(hexToIp(addrHex));
  }
  return out;
}

/** /proc/net/tcp addresses are 32-bit words in host (little-endian) order. */
function hexToIp(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  return ipaddr.fromByteArray(bytes).toString();
}
