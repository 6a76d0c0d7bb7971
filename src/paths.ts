/**
 * Where the pinned real components live (the agent needs gobgpd and GoBGP's protos from here;
 * the test rig needs all of them): scripts/setup.sh builds them into the cache
 * ($BGPVS_CACHE, default ~/.cache/bgpvs) under names taken from versions.env.
 */
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BgpvsError } from './errors.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export function cacheDir(): string {
  return process.env.BGPVS_CACHE ?? join(homedir(), '.cache', 'bgpvs');
}

export interface Versions {
  KUBERNETES_VERSION: string;
  ETCD_VERSION: string;
  GOBGP_VERSION: string;
  [k: string]: string;
}

/** Parse versions.env (KEY=VALUE lines, optional double quotes, # comments). */
export function parseVersions(text: string): Versions {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  for (const k of ['KUBERNETES_VERSION', 'ETCD_VERSION', 'GOBGP_VERSION']) {
    if (!out[k]) throw new BgpvsError(`versions.env: ${k} missing`);
  }
  return out as Versions;
}

let cached: Versions | undefined;
export function versions(): Versions {
  cached ??= parseVersions(readFileSync(join(repoRoot, 'versions.env'), 'utf8'));
  return cached;
}

export type Tool = 'kube-apiserver' | 'etcd' | 'gobgpd' | 'gobgp';

/**
 * Absolute path of a pinned, cached binary; throws with the fix if setup has not run.
 * `BGPVS_GOBGPD`, `BGPVS_GOBGP`, ... override it (the container image sets them).
 */
export function toolPath(tool: Tool): string {
  const override = process.env[`BGPVS_${tool.replace('-', '_').toUpperCase()}`];
  if (override) return override;
  const v = versions();
  const version = tool === 'kube-apiserver' ? v.KUBERNETES_VERSION : tool === 'etcd' ? v.ETCD_VERSION : v.GOBGP_VERSION;
  const p = join(cacheDir(), 'bin', `${tool}-${version}`);
  if (!existsSync(p)) throw new BgpvsError(`${tool} ${version} not found at ${p}: run scripts/setup.sh`);
  return p;
}

/** Include dir of GoBGP's .proto files of the pinned version: `<dir>/api/gobgp.proto`. */
export function gobgpProtoDir(): string {
  const p = process.env.BGPVS_PROTO_DIR ?? join(cacheDir(), 'proto', `gobgp-${versions().GOBGP_VERSION}`);
  if (!existsSync(join(p, 'api', 'gobgp.proto'))) throw new BgpvsError(`GoBGP protos not found in ${p}: run scripts/setup.sh`);
  return p;
}

/** Unpacked Debian kernel package for the IPVS VM. */
export function kernelDir(): string {
  const p = join(cacheDir(), 'kernel', 'current');
  if (!existsSync(p)) throw new BgpvsError(`Debian kernel not unpacked at ${p}: run scripts/setup.sh kernel`);
  return p;
}
