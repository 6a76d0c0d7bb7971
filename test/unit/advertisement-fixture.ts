/** One Advertisement builder for the BGP and reconciler tests (unit and integration). */
import type { Advertisement } from '../../src/model/types.js';

/** A plain advertisement of `prefix` (family from its syntax) for default/web; `extra` overrides. */
export const ad = (prefix: string, extra: Partial<Advertisement> = {}): Advertisement => ({
  prefix,
  family: prefix.includes(':') ? 'IPv6' : 'IPv4',
  services: ['default/web'],
  communities: [],
  largeCommunities: [],
  localReadyEndpoints: 1,
  weighted: false,
  ...extra,
});
