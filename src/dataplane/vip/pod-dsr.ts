/**
 * DSR into pods (the kube-router idea, our own code): a pod behind a tunnel-mode virtual
 * server gets the VIP on an IPIP interface (tunl0) in its network namespace with rp_filter
 * relaxed, so it decapsulates and answers from the VIP straight to the client; a pod behind
 * a DR virtual server gets the VIP on its loopback with arp_ignore=1/arp_announce=2.
 */
import type { Runner } from '../../exec/run.js';
import type { Logger } from '../../observability/logger.js';
import type { ForwardingMethod } from '../../model/types.js';
import { hostCidr, parseIpAddrJson, planVips, type VipPlan } from './plan.js';

/** Finds a local pod's network namespace, as a path `nsenter --net=` accepts. */
export interface PodNetnsResolver {
  /** `pod` is "namespace/name"; undefined when the pod is not on this node (or gone). */
  netnsPath(pod: string): Promise<string | undefined>;
}

/** Lab: pods are plain named network namespaces (`ip netns`), mapped by pod key. */
export class NamedNetnsResolver implements PodNetnsResolver {
  constructor(private readonly names: ReadonlyMap<string, string>) {}
  async netnsPath(pod: string): Promise<string | undefined> {
    const n = this.names.get(pod);
    return n === undefined ? undefined : `/run/netns/${n}`;
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
}

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
   * that are not host routes (127.0.0.1/8, ::1/128 aside) are never touched.
   */
  async sync(pod: string, mode: Exclude<ForwardingMethod, 'nat'>, vips: readonly string[]): Promise<PodDsrResult> {
    const path = await this.resolver.netnsPath(pod);
    if (!path) return { pod, found: false, add: [], remove: [] };
    const dev = mode === 'tunnel' ? TUNNEL_IFNAME : 'lo';
    const v4 = vips.filter((v) => !v.includes(':'));
    if (mode === 'tunnel') {
      // tunl0 is the ipip module's fallback device, present in every namespace once it is loaded.
      const has = await this.exec(path, ['ip', 'link', 'show', 'dev', TUNNEL_IFNAME], true);
      if (has.exitCode !== 0) await this.exec(path, ['ip', 'link', 'add', 'name', TUNNEL_IFNAME, 'type', 'ipip']);
      await this.exec(path, ['ip', 'link', 'set', TUNNEL_IFNAME, 'up']);
      await this.sysctls(path, { 'net.ipv4.conf.all.rp_filter': '0', [`net.ipv4.conf.${TUNNEL_IFNAME}.rp_filter`]: '0' });
    } else {
      await this.sysctls(path, { 'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2' });
    }
    const present = parseIpAddrJson((await this.exec(path, ['ip', '-j', 'addr', 'show', 'dev', dev])).stdout);
    const plan = planVips(v4, present, (ip) => ip === '127.0.0.1' || ip === '::1');
    for (const ip of plan.remove) await this.exec(path, ['ip', 'addr', 'del', hostCidr(ip), 'dev', dev]);
    for (const ip of plan.add) await this.exec(path, ['ip', 'addr', 'add', hostCidr(ip), 'dev', dev]);
    if (plan.add.length || plan.remove.length) this.log.info({ pod, mode, add: plan.add, remove: plan.remove }, 'pod vips updated');
    return { pod, found: true, ...plan };
  }

  private async sysctls(path: string, want: Record<string, string>): Promise<void> {
    for (const [k, v] of Object.entries(want)) await this.exec(path, ['sysctl', '-q', '-w', `${k}=${v}`]);
  }
}
