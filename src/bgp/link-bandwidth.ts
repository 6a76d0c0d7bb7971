/**
 * Pure: weighted ECMP. A weighted advertisement (pool `bgp.weightedEcmp`, Local policy) gets
 * the BGP link-bandwidth extended community (type 0x40, subtype 0x04: 2-byte ASN + IEEE
 * float32 bytes/s) with a bandwidth proportional to the node's ready local endpoints for the
 * VIP. Routers that honour it (FRR by default) weight their ECMP next hops by it; routers that
 * do not keep plain ECMP.
 *
 * Only the ratio between nodes matters; one endpoint counts as 1 Mbit/s (125,000 bytes/s),
 * which FRR shows as "LB:<asn>:125000 (1.000 Mbps)".
 */
import type { Advertisement } from '../model/types.js';

/** Bytes per second announced per ready local endpoint. */
export const BYTES_PER_ENDPOINT = 125_000;
/** RFC 6793's AS_TRANS: the 2-byte stand-in for a 4-byte ASN. */
export const AS_TRANS = 23456;

export interface LinkBandwidth {
  asn: number;
  bytesPerSecond: number;
}

/**
 * The community carries a 2-byte ASN (GoBGP 4.8 truncates a larger one to 16 bits): a 4-byte
 * ASN becomes AS_TRANS.
 */
export function linkBandwidthAsn(asn: number): number {
  return asn > 0xffff ? AS_TRANS : asn;
}

/**
 * The link-bandwidth of an advertisement, or undefined (unweighted, or no local endpoint).
 * The value is rounded to float32 as the wire carries it, so the path read back from gobgpd
 * compares equal and a pass in sync changes nothing.
 */
export function linkBandwidthFor(asn: number, ad: Pick<Advertisement, 'weighted' | 'localReadyEndpoints'>): LinkBandwidth | undefined {
  if (!ad.weighted || ad.localReadyEndpoints <= 0) return undefined;
  return { asn: linkBandwidthAsn(asn), bytesPerSecond: Math.fround(ad.localReadyEndpoints * BYTES_PER_ENDPOINT) };
}

/** The speaker's `linkBandwidth` hook for a node of AS `asn`. */
export function weightedEcmpHook(asn: number): (ad: Advertisement) => LinkBandwidth | undefined {
  return (ad) => linkBandwidthFor(asn, ad);
}
