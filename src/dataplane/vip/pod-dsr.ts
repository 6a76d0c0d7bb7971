/**
 * DSR into pods (the kube-router idea, our own code): a pod behind a tunnel-mode virtual
 * server gets the VIP on an IPIP interface (tunl0) in its network namespace with rp_filter
 * relaxed, so it decapsulates and answers from the VIP straight to the client; a pod behind
 * a DR virtual server gets the VIP on its loopback with arp_ignore=1/arp_announce=2.
 */
import { readFile } from 'node:fs/promises';
import { BgpvsError } from '../../errors.js';
import type { Runner } from '../../exec/run.js';
import type { Logger } from '../../observability/logger.js';
import type { ForwardingMethod } from '../../model/types.js';
import { hostCidr, parseIpAddrJsonByLink, planVips, type VipPlan } from './plan.js';

/** Finds a local pod's network namespace, as a path `nsenter --net=` accepts. */
export interface PodNetnsResolver {
  /** `pod` is "namespace/name"; undefined when the pod is not on this node (or gone). */
  netnsPath(pod: string): Promise<string | undefined>;
  /** Every pod this resolver knows on the node, so VIPs can be taken back from pods no longer wanted. */
  list?(): Promise<string[]>;
}

/** Lab: pods are plain named network namespaces (`ip netns`), mapped by pod key. */
export class NamedNetnsResolver implements PodNetnsResolver {
  constructor(private readonly names: ReadonlyMap<string, string>) {}
  async netnsPath(pod: string): Promise<string | undefined> {
    const n = this.names.get(pod);
    return n === undefined ? undefined : netnsPathOf(n);
  }
  async list(): Promise<string[]> {
    return [...this.names.keys()];
  }
}

/** A named netns (`ip netns add NAME`) → its path; an absolute path is kept. */
export function netnsPathOf(name: string): string {
  return name.startsWith('/') ? name : `/run/netns/${name}`;
}

/** Pure: the text of a pod → netns map file (`{"namespace/name": "netns"}`) → the map. */
export function parseNetnsMap(text: string): Map<string, string> {
  const doc = JSON.parse(text) as unknown;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new BgpvsError('pod netns map: must be a JSON object {"namespace/name": "netns"}');
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof v !== 'string' || v === '' || !k.includes('/')) throw new BgpvsError(`pod netns map: bad entry ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    out.set(k, v);
  }
  return out;
}

/**
 * Lab: the namespace-name map in a JSON file the lab rewrites as pods come and go; read on
 * every call (a missing file is an empty map: no pods yet).
 */
export class FileNetnsResolver implements PodNetnsResolver {
  constructor(
    readonly path: string,
    private readonly read: (p: string) => Promise<string> = (p) => readFile(p, 'utf8'),
  ) {}
  private async map(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await this.read(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    return parseNetnsMap(text);
  }
  async netnsPath(pod: string): Promise<string | undefined> {
    const n = (await this.map()).get(pod);
    return n === undefined ? undefined : netnsPathOf(n);
  }
  async list(): Promise<string[]> {
    return [...(await this.map()).keys()];
  }
}

/**
 * Clusters (sketch, UNTESTED: no CRI runtime here): `crictl pods --name N --namespace NS -q`
 * → pod sandbox id, `crictl inspectp ID` → info.runtimeSpec.linux.namespaces[type=network].path
 * (containerd), falling back to `/proc/<info.pid>/ns/net`.
 */
export class CrictlNetnsResolver implements PodNetnsResolver {
  constructor(private readonly run: Runner) {}
  async netnsPath(pod: string): Promise<string | undefined> {
    const [ns, name] = pod.split('/');
    if (!ns || !name) return undefined;
    const ids = (await this.run(['crictl', 'pods', '--namespace', ns, '--name', name, '--state', 'Ready', '-q'])).stdout.trim().split('\n').filter(Boolean);
    const id = ids[0];
    if (!id) return undefined;
    const info = JSON.parse((await this.run(['crictl', 'inspectp', '-o', 'json', id])).stdout) as {
      info?: { pid?: number; runtimeSpec?: { linux?: { namespaces?: Array<{ type?: string; path?: string }> } } };
    };
    const net = info.info?.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    if (net) return net;
    return info.info?.pid ? `/proc/${info.info.pid}/ns/net` : undefined;
  }
}

export const TUNNEL_IFNAME = 'tunl0';

export interface PodDsrOptions {
  run: Runner;
  logger: Logger;
  resolver: PodNetnsResolver;
}

export interface PodDsrResult extends VipPlan {
  pod: string;
  found: boolean;
  /** Sysctls this call changed in the pod. */
  sysctlsChanged: Record<string, string>;
}

/** In a tunnel-mode pod: decapsulated packets arrive on tunl0 from the client's address, which routes via eth0. */
export const POD_TUNNEL_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.rp_filter': '0',
  [`net.ipv4.conf.${TUNNEL_IFNAME}.rp_filter`]: '0',
};
/** In a DR-mode pod: the VIP on lo is never answered for over ARP, nor used as ARP source. */
export const POD_DR_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.arp_ignore': '1',
  'net.ipv4.conf.all.arp_announce': '2',
};

export class PodDsr {
  private readonly run: Runner;
  private readonly log: Logger;
  private readonly resolver: PodNetnsResolver;

  constructor(opts: PodDsrOptions) {
    this.run = opts.run;
    this.log = opts.logger.child({ component: 'pod-dsr' });
    this.resolver = opts.resolver;
  }

  private exec(path: string, argv: readonly string[], allowFailure = false) {
    return this.run(['nsenter', `--net=${path}`, ...argv], { allowFailure });
  }

  /**
   * Make the pod hold exactly `vips` for `mode` (tunnel → tunl0, dr → lo). Addresses on lo
   * that are not host routes (127.0.0.1/8, ::1/128 aside) are never touched. Reads first (one
   * `ip -j addr show`); a pod with nothing wanted and nothing of ours is left untouched, so
   * the agent can sweep every known pod each pass cheaply.
   */
  async sync(pod: string, mode: Exclude<ForwardingMethod, 'nat'>, vips: readonly string[]): Promise<PodDsrResult> {
    const path = await this.resolver.netnsPath(pod);
    if (!path) return { pod, found: false, add: [], remove: [], sysctlsChanged: {} };
    const dev = mode === 'tunnel' ? TUNNEL_IFNAME : 'lo';
    const v4 = vips.filter((v) => !v.includes(':'));
    const links = parseIpAddrJsonByLink((await this.exec(path, ['ip', '-j', 'addr', 'show'])).stdout);
    const plan = planVips(v4, links.get(dev)?.addrs ?? [], (ip) => ip === '127.0.0.1' || ip === '::1');
    if (v4.length === 0 && plan.remove.length === 0) return { pod, found: true, ...plan, sysctlsChanged: {} };
    let sysctlsChanged: Record<string, string>;
    if (mode === 'tunnel') {
      // tunl0 is the ipip module's fallback device, present in every namespace once it is loaded.
      const tunl = links.get(TUNNEL_IFNAME);
      if (!tunl) await this.exec(path, ['ip', 'link', 'add', 'name', TUNNEL_IFNAME, 'type', 'ipip']);
      if (!tunl?.up) await this.exec(path, ['ip', 'link', 'set', TUNNEL_IFNAME, 'up']);
      sysctlsChanged = await this.sysctls(path, POD_TUNNEL_SYSCTLS);
    } else {
      sysctlsChanged = await this.sysctls(path, POD_DR_SYSCTLS);
    }
    for (const ip of plan.remove) await this.exec(path, ['ip', 'addr', 'del', hostCidr(ip), 'dev', dev]);
    for (const ip of plan.add) await this.exec(path, ['ip', 'addr', 'add', hostCidr(ip), 'dev', dev]);
    if (plan.add.length || plan.remove.length) this.log.info({ pod, mode, add: plan.add, remove: plan.remove }, 'pod vips updated');
    for (const [k, v] of Object.entries(sysctlsChanged)) this.log.info({ pod, sysctl: k, to: v }, 'pod sysctl set');
    return { pod, found: true, ...plan, sysctlsChanged };
  }

  /** Reads the keys in one `sysctl -n`, writes only those that differ; returns what it wrote. */
  private async sysctls(path: string, want: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const keys = Object.keys(want);
    const cur = (await this.exec(path, ['sysctl', '-n', ...keys])).stdout.trim().split('\n');
    const changed: Record<string, string> = {};
    keys.forEach((k, i) => {
      if (cur[i]?.trim() !== want[k]) changed[k] = want[k]!;
    });
    const writes = Object.entries(changed).map(([k, v]) => `${k}=${v}`);
    if (writes.length) await this.exec(path, ['sysctl', '-q', '-w', ...writes]);
    return changed;
  }
}
