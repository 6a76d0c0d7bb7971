/**
 * IP pools as the node side needs them: the CIDRs that cover each pool (the export policy
 * and the model's pool lookup speak CIDRs; pools may be ranges) with the pool's BGP
 * attributes. Pure.
 */
import type { PoolAttributes } from '../desired/config.js';
import { bigIntToIp, type IpRange, type Pool } from '../ipam/pools.js';

/** The fewest CIDRs that cover exactly [start, end]. */
export function rangeToCidrs(r: IpRange): string[] {
  const bits = r.family === 'IPv4' ? 32 : 128;
  const out: string[] = [];
  let cur = r.start;
  while (cur <= r.end) {
    // The largest block aligned at `cur` that does not pass `end`.
    let size = 0;
    while (size < bits && (cur & ((1n << BigInt(size + 1)) - 1n)) === 0n && cur + (1n << BigInt(size + 1)) - 1n <= r.end) size++;
    out.push(`${bigIntToIp(r.family, cur)}/${bits - size}`);
    cur += 1n << BigInt(size);
  }
  return out;
}

export function modelPools(pools: readonly Pool[]): PoolAttributes[] {
  return pools.map((p) => ({
    cidrs: p.ranges.flatMap(rangeToCidrs),
    communities: p.bgp.communities,
    largeCommunities: p.bgp.largeCommunities,
    ...(p.bgp.localPref !== undefined ? { localPref: p.bgp.localPref } : {}),
    weightedEcmp: p.bgp.weightedEcmp,
  }));
}
