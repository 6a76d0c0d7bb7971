/**
 * VIPs on the node: a dummy interface owned by bgpvs holds every VIP so IPVS sees the traffic
 * as local; arp_ignore/arp_announce keep the node's real interfaces from answering ARP for them.
 */
import type { Runner } from '../../exec/run.js';
import type { Logger } from '../../observability/logger.js';
import { hostCidr, parseIpAddrJson, parseIpAddrJsonByLink, planVips, type VipPlan } from './plan.js';

export const DEFAULT_VIP_IFNAME = 'bgpvs0';

/** Node sysctls so VIPs on the dummy interface are never answered for over ARP on real NICs. */
export const NODE_ARP_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.arp_ignore': '1',
  'net.ipv4.conf.all.arp_announce': '2',
};

export interface NodeVipsOptions {
  run: Runner;
  logger: Logger;
  ifname?: string;
  netns?: string;
}

export interface NodeVipsResult extends VipPlan {
  createdInterface: boolean;
  sysctlsChanged: Record<string, string>;
}

export class NodeVips {
  private readonly run: Runner;
  private readonly log: Logger;
  readonly ifname: string;
  private readonly netns: string | undefined;

  constructor(opts: NodeVipsOptions) {
    this.run = opts.run;
    this.log = opts.logger.child({ component: 'vips' });
    this.ifname = opts.ifname ?? DEFAULT_VIP_IFNAME;
    this.netns = opts.netns;
  }

  async list(): Promise<string[]> {
    const res = await this.run(['ip', '-j', 'addr', 'show', 'dev', this.ifname], { netns: this.netns, allowFailure: true });
    return res.exitCode === 0 ? parseIpAddrJson(res.stdout) : [];
  }

  /** Make the dummy interface hold exactly `vips` (every address on it is ours). Reads first; writes only what differs. */
  async sync(vips: Iterable<string>): Promise<NodeVipsResult> {
    let createdInterface = false;
    const shown = await this.run(['ip', '-j', 'addr', 'show', 'dev', this.ifname], { netns: this.netns, allowFailure: true });
    const link = shown.exitCode === 0 ? parseIpAddrJsonByLink(shown.stdout).get(this.ifname) : undefined;
    if (!link) {
      await this.run(['ip', 'link', 'add', this.ifname, 'type', 'dummy'], { netns: this.netns });
      createdInterface = true;
      this.log.info({ ifname: this.ifname }, 'vip interface created');
    }
    if (!link?.up) await this.run(['ip', 'link', 'set', this.ifname, 'up'], { netns: this.netns });
    const sysctlsChanged: Record<string, string> = {};
    const keys = Object.keys(NODE_ARP_SYSCTLS);
    const cur = (await this.run(['sysctl', '-n', ...keys], { netns: this.netns })).stdout.trim().split('\n');
    keys.forEach((k, i) => {
      if (cur[i]?.trim() !== NODE_ARP_SYSCTLS[k]) sysctlsChanged[k] = NODE_ARP_SYSCTLS[k]!;
    });
    for (const [k, v] of Object.entries(sysctlsChanged)) {
      await this.run(['sysctl', '-q', '-w', `${k}=${v}`], { netns: this.netns });
      this.log.info({ sysctl: k, to: v }, 'node sysctl set');
    }
    const plan = planVips(vips, link?.addrs ?? []);
    for (const ip of plan.remove) {
      await this.run(['ip', 'addr', 'del', hostCidr(ip), 'dev', this.ifname], { netns: this.netns });
      this.log.info({ vip: ip, op: 'remove' }, 'vip removed');
    }
    for (const ip of plan.add) {
      await this.run(['ip', 'addr', 'add', hostCidr(ip), 'dev', this.ifname, ...(ip.includes(':') ? ['nodad'] : [])], { netns: this.netns });
      this.log.info({ vip: ip, op: 'add' }, 'vip added');
    }
    return { ...plan, createdInterface, sysctlsChanged };
  }

  /** Remove the interface (agent uninstall). */
  async remove(): Promise<void> {
    await this.run(['ip', 'link', 'del', this.ifname], { netns: this.netns, allowFailure: true });
  }
}
