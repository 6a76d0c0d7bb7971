/**
 * A stable 32-bit hash over bytes: FNV-1a with a seed folded into its offset basis, then
 * MurmurHash3's fmix32 finaliser for avalanche (plain FNV-1a clusters on similar short
 * strings like "10.0.0.1:80"). Same bytes and seed → same value on every node and process.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

/** Plain 32-bit FNV-1a (unseeded, no finaliser), exported for its published test vectors. */
export function fnv1a32(bytes: Uint8Array, basis = FNV_OFFSET): number {
  let h = basis >>> 0;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seeded stable hash of bytes or of a string's UTF-8 encoding, as an unsigned 32-bit integer. */
export function stableHash32(data: Uint8Array | string, seed = 0): number {
  const bytes = typeof data === 'string' ? utf8.encode(data) : data;
  return fmix32(fnv1a32(bytes, (FNV_OFFSET ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0));
}
