/** Pure: the IPVS sysctls the desired virtual servers need (values bgpvs raises, never lowers). */
import type { VirtualServer } from '../../model/types.js';

export type IpvsSysctls = Record<string, string>;

/**
 * - `expire_nodest_conn=1`: a removed real server's connections end at once rather than
 *   blackholing until their timeout.
 * - `conntrack=1` with NAT: keep netfilter conntrack entries for IPVS connections (needed for
 *   SNAT/masquerade and stateful filtering on the return path).
 * - `sloppy_tcp=1` / `sloppy_sctp=1` with mh and DSR: a flow that ECMP moves to this node
 *   mid-connection (no SYN seen here) still gets a connection entry, and mh sends it to the
 *   same backend every node picks.
 * - `expire_quiescent_template=1` with persistence: templates pointing at a weight-0 real
 *   server expire, so draining actually moves persistent clients away.
 */
export function requiredIpvsSysctls(desired: readonly VirtualServer[]): IpvsSysctls {
  const out: IpvsSysctls = {};
  if (desired.length === 0) return out;
  out['net.ipv4.vs.expire_nodest_conn'] = '1';
  if (desired.some((v) => v.forwarding === 'nat')) out['net.ipv4.vs.conntrack'] = '1';
  const mhDsr = desired.filter((v) => v.scheduler === 'mh' && v.forwarding !== 'nat');
  if (mhDsr.some((v) => v.protocol === 'TCP')) out['net.ipv4.vs.sloppy_tcp'] = '1';
  if (mhDsr.some((v) => v.protocol === 'SCTP')) out['net.ipv4.vs.sloppy_sctp'] = '1';
  if (desired.some((v) => v.persistenceSeconds > 0)) out['net.ipv4.vs.expire_quiescent_template'] = '1';
  return out;
}
