/**
 * Pure: the wanted paths vs the paths of ours that gobgpd holds → the operations.
 * gobgpd keeps one locally originated path per NLRI, so a changed attribute is a re-add
 * (AddPath replaces it) and never a delete + add (which would flap the route).
 */
import { pathKey, type PathSpec } from './paths.js';

export interface PathDiff {
  /** Prefixes gobgpd does not hold yet. */
  add: PathSpec[];
  /** Prefixes held with other attributes: AddPath again with the wanted ones. */
  replace: PathSpec[];
  /** Prefixes of ours no longer wanted (the actual path, as listed). */
  delete: PathSpec[];
}

export function diffPaths(wanted: readonly PathSpec[], actual: readonly PathSpec[]): PathDiff {
  const have = new Map<string, PathSpec[]>();
  for (const a of actual) {
    const l = have.get(a.prefix);
    if (l) l.push(a);
    else have.set(a.prefix, [a]);
  }
  const wantedPrefixes = new Set<string>();
  const out: PathDiff = { add: [], replace: [], delete: [] };
  for (const w of wanted) {
    wantedPrefixes.add(w.prefix);
    const cur = have.get(w.prefix);
    if (!cur) out.add.push(w);
    else if (!cur.some((c) => pathKey(c) === pathKey(w))) out.replace.push(w);
  }
  for (const [prefix, list] of have) {
    if (!wantedPrefixes.has(prefix)) out.delete.push(list[0]!);
  }
  const byPrefix = (a: PathSpec, b: PathSpec) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);
  out.add.sort(byPrefix);
  out.replace.sort(byPrefix);
  out.delete.sort(byPrefix);
  return out;
}

export function isEmptyDiff(d: PathDiff): boolean {
  return d.add.length === 0 && d.replace.length === 0 && d.delete.length === 0;
}
