/**
 * The IPVS data plane of one node, behind the one DataPlane interface: the agent hands it
 * the desired virtual servers and knows nothing of what follows. Each pass, in this order:
 *   1. ownership: pool CIDRs + the VIPs wanted now + those already on bgpvs's interface;
 *   2. pods: local DSR pods get their VIPs (tunl0 / lo) before IPVS sends them traffic, and
 *      pods no longer wanted give theirs back;
 *   3. node sysctls: accept_local on the interfaces leading to those pods (their replies
 *      come from the VIP, a local address here);
 *   4. IPVS: the virtual services we own, diffed against `ipvsadm -Sn` (DR to pods on other
 *      nodes goes by tunnel);
 *   5. node VIPs: exactly the served VIPs on the dummy interface (no ARP for them).
 * Every step runs even when an earlier one failed; the failures come back together.
 */
import type { Runner } from '../../exec/run.js';
import type { Logger } from '../../observability/logger.js';
import type { VirtualServer } from '../../model/types.js';
import type { DataPlane, DataPlaneContext, SyncResult } from '../types.js';
import { IpvsDataPlane, type IpvsSyncResult } from './adapter.js';
import type { VipOwnership } from './diff.js';
import { ipvsVirtualServers, nodeDsrSysctls, parseRouteGetDev, planPodDsr, vipOwnership } from './node-plan.js';
import type { ActualVirtualServer } from './parse.js';
import { NODE_ARP_SYSCTLS, NodeVips, type NodeVipsResult } from '../vip/node-vips.js';
import { PodDsr, type PodDsrResult, type PodNetnsResolver } from '../vip/pod-dsr.js';

export interface IpvsNodeDataPlaneOptions {
  run: Runner;
  logger: Logger;
  nodeName: string;
  /** CIDRs of the IP pools until a pass says otherwise (each pass's DataPlaneContext wins). */
  poolCidrs?: readonly string[];
  /** Local pods' network namespaces; without it, DSR into pods is not set up (NAT still works). */
  podResolver?: PodNetnsResolver;
  /** The VIP dummy interface (default bgpvs0). */
  vipInterface?: string;
  drainGraceMs?: number;
  now?: () => number;
}

export interface IpvsNodeSyncResult extends SyncResult {
  ipvs?: IpvsSyncResult;
  vips?: NodeVipsResult;
  /** Pods whose DSR addresses or sysctls changed, or that were wanted but not found. */
  pods: PodDsrResult[];
  /** Every sysctl this pass wanted on the node, and which it changed. */
  sysctls: { wanted: Record<string, string>; changed: Record<string, string> };
}

export class IpvsNodeDataPlane implements DataPlane {
  readonly name = 'ipvs' as const;
  private readonly log: Logger;
  private readonly ipvs: IpvsDataPlane;
  private readonly vips: NodeVips;
  private readonly pods: PodDsr | undefined;
  private poolCidrs: readonly string[];
  /** Set at the start of each pass (and by list()); the IPVS adapter reads it through a getter. */
  private ownership: VipOwnership = { has: () => false };
  /** Pods given VIPs earlier: a hint for the sweep when the resolver cannot list. */
  private configured = new Set<string>();

  constructor(private readonly opts: IpvsNodeDataPlaneOptions) {
    this.log = opts.logger.child({ component: 'ipvs-node' });
    this.poolCidrs = opts.poolCidrs ?? [];
    this.ipvs = new IpvsDataPlane({
      run: opts.run,
      logger: opts.logger,
      managedVips: () => this.ownership,
      ...(opts.drainGraceMs !== undefined ? { drainGraceMs: opts.drainGraceMs } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.vips = new NodeVips({ run: opts.run, logger: opts.logger, ...(opts.vipInterface ? { ifname: opts.vipInterface } : {}) });
    this.pods = opts.podResolver ? new PodDsr({ run: opts.run, logger: opts.logger, resolver: opts.podResolver }) : undefined;
  }

  private async refreshOwnership(desired: readonly VirtualServer[]): Promise<void> {
    const onInterface = await this.vips.list();
    this.ownership = vipOwnership(this.poolCidrs, [...desired.map((v) => v.vip), ...onInterface]);
  }

  async list(): Promise<ActualVirtualServer[]> {
    await this.refreshOwnership([]);
    return this.ipvs.list();
  }

  async sync(desired: readonly VirtualServer[], pass?: DataPlaneContext): Promise<IpvsNodeSyncResult> {
    if (pass) this.poolCidrs = pass.poolCidrs;
    const failures: Error[] = [];
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        failures.push(Object.assign(e, { step: name }));
        return undefined;
      }
    };
    await this.refreshOwnership(desired);
    const owned = desired.filter((v) => this.ownership.has(v.vip));
    const plan = planPodDsr(owned, this.opts.nodeName);
    for (const u of plan.unresolved) this.log.warn({ vip: u.vip, address: u.address, reason: 'noPodRef' }, 'local endpoint names no pod: no DSR address set up');

    const pods = (await step('pods', () => this.syncPods(plan.pods))) ?? [];
    const podAddresses = [...plan.pods.values()].flatMap((p) => p.addresses);
    const node = await step('node-sysctls', () => this.syncNodeSysctls(podAddresses));
    const ipvs = await step('ipvs', () => this.ipvs.sync(ipvsVirtualServers(owned, this.opts.nodeName)));
    const vips = await step('vips', () => this.vips.sync(owned.map((v) => v.vip)));

    if (failures.length === 1) throw failures[0]!;
    if (failures.length > 1) throw new AggregateError(failures, `ipvs data plane: ${failures.length} steps failed`);
    const sysctls = {
      wanted: { ...ipvs!.sysctls.wanted, ...node!.wanted, ...NODE_ARP_SYSCTLS },
      changed: { ...ipvs!.sysctls.changed, ...node!.changed, ...vips!.sysctlsChanged },
    };
    const skipped = [
      ...ipvs!.skipped,
      ...[...new Set(pods.filter((p) => !p.found).map((p) => p.pod))].flatMap((pod) =>
        owned.filter((v) => v.realServers.some((rs) => rs.pod === pod)).map((v) => ({ vip: v.vip, port: v.port, protocol: v.protocol, reason: `podNetnsNotFound: ${pod}` })),
      ),
    ];
    const podOps = pods.reduce((n, p) => n + p.add.length + p.remove.length, 0);
    const vipOps = vips!.add.length + vips!.remove.length;
    const operations = ipvs!.operations + podOps + vipOps + Object.keys(sysctls.changed).length;
    return { mode: operations ? 'incremental' : 'noop', operations, skipped, ipvs, vips, pods, sysctls };
  }

  /** Wanted pods get their VIPs; every other known pod (resolver's list, earlier passes) gives ours back. */
  private async syncPods(wanted: ReadonlyMap<string, { tunnel: string[]; dr: string[] }>): Promise<PodDsrResult[]> {
    if (!this.pods) return [];
    const known = this.opts.podResolver?.list ? await this.opts.podResolver.list() : [];
    const all = [...new Set([...wanted.keys(), ...known, ...this.configured])].sort();
    const out: PodDsrResult[] = [];
    const configured = new Set<string>();
    for (const pod of all) {
      const w = wanted.get(pod);
      const t = await this.pods.sync(pod, 'tunnel', w?.tunnel ?? []);
      const d = await this.pods.sync(pod, 'dr', w?.dr ?? []);
      if (w && t.found) configured.add(pod);
      if (w && !t.found) this.log.warn({ pod, reason: 'podNetnsNotFound' }, 'local DSR pod not found: no VIP set up in it');
      for (const r of [t, d]) if (r.add.length || r.remove.length || Object.keys(r.sysctlsChanged).length || (w && !r.found)) out.push(r);
    }
    this.configured = configured;
    return out;
  }

  /** accept_local on each interface that routes to a local DSR pod. */
  private async syncNodeSysctls(podAddresses: readonly string[]): Promise<{ wanted: Record<string, string>; changed: Record<string, string> }> {
    const devs: string[] = [];
    for (const a of [...new Set(podAddresses)]) {
      const dev = parseRouteGetDev((await this.opts.run(['ip', '-j', 'route', 'get', a])).stdout);
      if (dev) devs.push(dev);
    }
    const wanted = nodeDsrSysctls(devs);
    const keys = Object.keys(wanted);
    const changed: Record<string, string> = {};
    if (keys.length === 0) return { wanted, changed };
    const cur = (await this.opts.run(['sysctl', '-n', ...keys])).stdout.trim().split('\n');
    keys.forEach((k, i) => {
      if (cur[i]?.trim() !== wanted[k]) changed[k] = wanted[k]!;
    });
    const writes = Object.entries(changed).map(([k, v]) => `${k}=${v}`);
    if (writes.length) await this.opts.run(['sysctl', '-q', '-w', ...writes]);
    for (const [k, v] of Object.entries(changed)) this.log.info({ sysctl: k, to: v }, 'node sysctl set');
    return { wanted, changed };
  }
}
