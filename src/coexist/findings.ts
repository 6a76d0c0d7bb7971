/**
 * What the coexistence check looks at, read for real: TCP listeners on port 179 in the agent's
 * network namespace (the agent runs hostNetwork, so that is the node's), and Calico or Cilium
 * BGP resources served by the API (discovery: a group or resource that is not served = absent).
 * Thin adapters around the pure `decideCoexistence`.
 */
import { readFile } from 'node:fs/promises';
import { ApisApi, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { BgpvsError } from '../errors.js';
import { decideCoexistence, listenersOnPort, type CoexistInput, type Findings } from './detect.js';

/** The chosen coexistence mode cannot work beside what was found; the message says why and what fits. */
export class CoexistenceError extends BgpvsError {}

/** Listeners on TCP `port` from /proc/net/tcp and /proc/net/tcp6 (either may be missing: no IPv4/IPv6). */
export async function readListeners(port: number, read: (p: string) => Promise<string> = (p) => readFile(p, 'utf8')): Promise<string[]> {
  const out: string[] = [];
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await read(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new BgpvsError(`reading ${path}`, { cause: err });
    }
    out.push(...listenersOnPort(text, port));
  }
  return [...new Set(out)];
}

/** The BGP resources whose presence means a CNI speaks BGP on the nodes. */
export const CNI_BGP_RESOURCES = {
  calico: { group: 'crd.projectcalico.org', resources: ['bgpconfigurations', 'bgppeers'] },
  cilium: { group: 'cilium.io', resources: ['ciliumbgppeeringpolicies', 'ciliumbgpclusterconfigs'] },
} as const;

/** Served groups → their versions → resource names (plural). */
export type ServedResources = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Pure: which CNI BGP resources are served. */
export function cniBgpFromDiscovery(served: ServedResources): Pick<Findings, 'calicoBgp' | 'ciliumBgp'> {
  const has = (spec: { group: string; resources: readonly string[] }) =>
    [...(served.get(spec.group)?.values() ?? [])].some((names) => names.some((n) => spec.resources.includes(n)));
  return { calicoBgp: has(CNI_BGP_RESOURCES.calico), ciliumBgp: has(CNI_BGP_RESOURCES.cilium) };
}

/** API discovery, limited to the CNI groups we care about. */
export async function discoverCniResources(kc: KubeConfig): Promise<ServedResources> {
  const wanted: string[] = Object.values(CNI_BGP_RESOURCES).map((s) => s.group);
  let groups;
  try {
    groups = await kc.makeApiClient(ApisApi).getAPIVersions();
  } catch (err) {
    throw new BgpvsError('API discovery (GET /apis) for CNI BGP resources', { cause: err });
  }
  const custom = kc.makeApiClient(CustomObjectsApi);
  const out = new Map<string, Map<string, string[]>>();
  for (const g of groups.groups.filter((x) => wanted.includes(x.name))) {
    const versions = new Map<string, string[]>();
    for (const v of g.versions) {
      try {
        const list = await custom.getAPIResources({ group: g.name, version: v.version });
        versions.set(v.version, list.resources.map((r) => r.name));
      } catch (err) {
        if ((err as { code?: number }).code === 404) continue; // group version gone between the two calls
        throw new BgpvsError(`API discovery (GET /apis/${g.name}/${v.version})`, { cause: err });
      }
    }
    out.set(g.name, versions);
  }
  return out;
}

export interface FindingsSources {
  listeners: () => Promise<string[]>;
  served: () => Promise<ServedResources>;
}

export async function readFindings(src: FindingsSources): Promise<Findings> {
  const [port179Listeners, served] = await Promise.all([src.listeners(), src.served()]);
  return { port179Listeners, ...cniBgpFromDiscovery(served) };
}

/** The start-up check: reads the findings, decides, throws CoexistenceError on refusal, else returns the notes. */
export async function checkCoexistence(input: Omit<CoexistInput, 'findings'>, src: FindingsSources): Promise<{ findings: Findings; notes: string[] }> {
  const findings = await readFindings(src);
  const decision = decideCoexistence({ ...input, findings });
  if (!decision.ok) throw new CoexistenceError(decision.message);
  return { findings, notes: decision.notes };
}
