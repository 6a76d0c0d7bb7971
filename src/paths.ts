/**
 * Where the agent finds gobgpd, gobgp and GoBGP's protos. The image sets BGPVS_GOBGPD,
 * BGPVS_GOBGP and BGPVS_PROTO_DIR; in a checkout, scripts/setup.sh builds them into the cache
 * ($BGPVS_CACHE, default ~/.cache/bgpvs) under names taken from versions.env. The test rig's
 * own tools (kube-apiserver, etcd, the VM's kernel) are found by test/rig/paths.ts.
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

/**
 * Absolute path of a pinned binary in the setup cache (`<cache>/bin/NAME-VERSION`), unless
 * `BGPVS_<NAME>` names it (the container image sets those); throws with the fix if setup has
 * not run.
 */
export function cachedBinary(tool: string, version: string): string {
  const override = process.env[`BGPVS_${tool.replace(/-/g, '_').toUpperCase()}`];
  if (override) return override;
  const p = join(cacheDir(), 'bin', `${tool}-${version}`);
  if (!existsSync(p)) throw new BgpvsError(`${tool} ${version} not found at ${p}: run scripts/setup.sh`);
  return p;
}

/** gobgpd or gobgp at the pinned GoBGP version. */
export function toolPath(tool: 'gobgpd' | 'gobgp'): string {
  const override = process.env[`BGPVS_${tool.toUpperCase()}`];
  return override ?? cachedBinary(tool, versions().GOBGP_VERSION);
}

/** Include dir of GoBGP's .proto files of the pinned version: `<dir>/api/gobgp.proto`. */
export function gobgpProtoDir(): string {
  const p = process.env.BGPVS_PROTO_DIR ?? join(cacheDir(), 'proto', `gobgp-${versions().GOBGP_VERSION}`);
  if (!existsSync(join(p, 'api', 'gobgp.proto'))) throw new BgpvsError(`GoBGP protos not found in ${p}: run scripts/setup.sh`);
  return p;
}
