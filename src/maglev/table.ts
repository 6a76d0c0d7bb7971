/**
 * Maglev consistent-hashing lookup table (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, §3.4), with weights.
 *
 * Each backend gets a permutation of the M slots from two hashes of its name:
 * offset = h1 mod M, skip = h2 mod (M − 1) + 1, permutation[j] = (offset + j·skip) mod M
 * (M prime, so every skip visits every slot). Backends take turns claiming their next free
 * preferred slot until the table is full. Weights: in round r a backend of weight w takes a
 * turn iff ⌊(r+1)·w/wmax⌋ > ⌊r·w/wmax⌋, so over the rounds it takes w/wmax of them.
 *
 * Deterministic: backends are ordered by name and hashed with a fixed byte hash, so every
 * node builds the same table for the same backends, whatever order it lists them in.
 */
import { stableHash32 } from './hash.js';

/** The paper's production size; prime. */
export const MAGLEV_DEFAULT_SIZE = 65537;
/** A small prime for tests and tiny services. */
export const MAGLEV_SMALL_SIZE = 251;
/** IPVS's weight range, which the model uses. */
export const MAGLEV_MAX_WEIGHT = 65535;

const SEED_OFFSET = 0;
const SEED_SKIP = 1;

export interface MaglevBackend {
  /** Stable identity, e.g. "10.0.0.1:8080"; hashed, so it must be the same on every node. */
  name: string;
  /** Integer 0..65535; default 1. 0 gets no slot. */
  weight?: number;
}

export interface MaglevTable {
  size: number;
  /** Backend names, sorted; the table holds indexes into this list. */
  backends: readonly string[];
  /** slot → backend index, or -1 when no backend has weight. */
  slots: Int32Array;
}

/** Default buckets per virtual server in the nft data plane (prime; --nft.maglev-size). Small on purpose: see the bench notes. */
export const DEFAULT_BUCKETS = 251;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

const byName = (a: MaglevBackend, b: MaglevBackend) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Throws RangeError on a programming error: non-prime size, duplicate names, bad weights, more backends than slots. */
export function buildMaglevTable(backends: readonly MaglevBackend[], size: number = MAGLEV_DEFAULT_SIZE): MaglevTable {
  if (!isPrime(size)) throw new RangeError(`maglev: table size must be prime: ${size}`);
  const sorted = [...backends].sort(byName);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.name === sorted[i - 1]!.name) throw new RangeError(`maglev: duplicate backend ${JSON.stringify(sorted[i]!.name)}`);
  }
  const n = sorted.length;
  const weights = sorted.map((b) => b.weight ?? 1);
  for (const [i, w] of weights.entries()) {
    if (!Number.isInteger(w) || w < 0 || w > MAGLEV_MAX_WEIGHT) throw new RangeError(`maglev: weight of ${sorted[i]!.name} must be an integer 0..${MAGLEV_MAX_WEIGHT}: ${w}`);
  }
  const active = weights.filter((w) => w > 0).length;
  if (active > size) throw new RangeError(`maglev: ${active} backends do not fit ${size} slots`);

  const slots = new Int32Array(size).fill(-1);
  const names = sorted.map((b) => b.name);
  if (active === 0) return { size, backends: names, slots };

  const pos = new Float64Array(n); // current permutation position = (offset + j·skip) mod M
  const skip = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    pos[i] = stableHash32(names[i]!, SEED_OFFSET) % size;
    skip[i] = (stableHash32(names[i]!, SEED_SKIP) % (size - 1)) + 1;
  }
  const wmax = Math.max(...weights);
  let filled = 0;
  for (let round = 0; filled < size; round++) {
    for (let i = 0; i < n && filled < size; i++) {
      const w = weights[i]!;
      if (w === 0) continue;
      if (w !== wmax && Math.floor(((round + 1) * w) / wmax) === Math.floor((round * w) / wmax)) continue;
      let c = pos[i]!;
      while (slots[c] !== -1) c = (c + skip[i]!) % size;
      slots[c] = i;
      pos[i] = (c + skip[i]!) % size;
      filled++;
    }
  }
  return { size, backends: names, slots };
}

/** The backend for a flow hash (e.g. stableHash32 of the 5-tuple bytes), or undefined for an empty table. */
export function maglevLookup(table: MaglevTable, flowHash: number): string | undefined {
  const i = table.slots[(flowHash >>> 0) % table.size]!;
  return i < 0 ? undefined : table.backends[i];
}
