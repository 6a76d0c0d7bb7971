/**
 * The rig's install paths: the agent's own (src/paths.ts: gobgpd, gobgp, protos, versions)
 * plus the tools only tests and the lab run — kube-apiserver, etcd and the VM's kernel.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BgpvsError } from '../../src/errors.js';
import { cacheDir, cachedBinary, toolPath as agentTool, versions } from '../../src/paths.js';

export { cacheDir, gobgpProtoDir, parseVersions, repoRoot, versions, type Versions } from '../../src/paths.js';

export type Tool = 'kube-apiserver' | 'etcd' | 'gobgpd' | 'gobgp';

/** Absolute path of a pinned, cached binary; throws with the fix if setup has not run. */
export function toolPath(tool: Tool): string {
  if (tool === 'gobgpd' || tool === 'gobgp') return agentTool(tool);
  const v = versions();
  return cachedBinary(tool, tool === 'kube-apiserver' ? v.KUBERNETES_VERSION : v.ETCD_VERSION);
}

/** Unpacked Debian kernel package for the IPVS VM. */
export function kernelDir(): string {
  const p = join(cacheDir(), 'kernel', 'current');
  if (!existsSync(p)) throw new BgpvsError(`Debian kernel not unpacked at ${p}: run scripts/setup.sh kernel`);
  return p;
}
