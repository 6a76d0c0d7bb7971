/**
 * IPVS data plane through ipvsadm: list (`-Sn`, `-Ln`), diff (pure), apply (`-R` on stdin),
 * plus the sysctls the desired modes need. Effects come in through the constructor.
 */
import type { Runner } from '../../exec/run.js';
import type { Logger } from '../../observability/logger.js';
import type { VirtualServer } from '../../model/types.js';
import type { DataPlane, SyncResult } from '../types.js';
import { diffIpvs, type IpvsOp, type VipOwnership } from './diff.js';
import { parseIpvsadmListConns, parseIpvsadmSave, type ActualVirtualServer, type ConnCounts, type IpvsTableState } from './parse.js';
import { renderIpvsBatch } from './render.js';
import { requiredIpvsSysctls, type IpvsSysctls } from './sysctls.js';

export interface IpvsDataPlaneOptions {
  run: Runner;
  logger: Logger;
  /** VIPs bgpvs owns (or a getter, when the set changes between passes). */
  managedVips: VipOwnership | (() => VipOwnership);
  /** How long a removed real server with connections stays at weight 0. Default 30 s. */
  drainGraceMs?: number;
  /** Clock for draining; default Date.now. */
  now?: () => number;
  /** Run ipvsadm/sysctl in this network namespace. */
  netns?: string;
}

export interface IpvsSyncResult extends SyncResult {
  ops: IpvsOp[];
  /** The `ipvsadm -R` batch sent ('' when nothing changed). */
  batch: string;
  /** Real servers still at weight 0 waiting for their connections to end. */
  draining: number;
  /** Sysctls wanted by the desired set, and which of them this pass changed. */
  sysctls: { wanted: IpvsSysctls; changed: IpvsSysctls };
}

export class IpvsDataPlane implements DataPlane {
  readonly name = 'ipvs' as const;
  private readonly run: Runner;
  private readonly log: Logger;
  private readonly managed: () => VipOwnership;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly netns: string | undefined;
  /** Drain start times; only a hint (a restart restarts the grace), the table is re-read every pass. */
  private drainingSince = new Map<string, number>();

  constructor(opts: IpvsDataPlaneOptions) {
    this.run = opts.run;
    this.log = opts.logger.child({ component: 'ipvs' });
    const mv = opts.managedVips;
    this.managed = typeof mv === 'function' ? mv : () => mv;
    this.graceMs = opts.drainGraceMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.netns = opts.netns;
  }

  /** The whole table, ours and foreign. */
  async table(): Promise<IpvsTableState> {
    const res = await this.run(['ipvsadm', '-Sn'], { netns: this.netns });
    return parseIpvsadmSave(res.stdout);
  }

  /** Virtual servers on managed VIPs, as the kernel holds them. */
  async list(): Promise<ActualVirtualServer[]> {
    const managed = this.managed();
    return (await this.table()).services.filter((s) => managed.has(s.vip));
  }

  async connections(): Promise<Map<string, ConnCounts>> {
    const res = await this.run(['ipvsadm', '-Ln'], { netns: this.netns });
    return parseIpvsadmListConns(res.stdout);
  }

  async sync(desired: readonly VirtualServer[]): Promise<IpvsSyncResult> {
    const managed = this.managed();
    const sysctls = await this.ensureSysctls(requiredIpvsSysctls(desired.filter((v) => managed.has(v.vip))));
    const actual = await this.table();
    const input = { desired, actual, managedVips: managed, nowMs: this.now(), drainingSince: this.drainingSince, graceMs: this.graceMs };
    // Connection counts matter only for real servers leaving the desired set; with none known,
    // every leaving one shows up as 'drained'. Only then pay for the second listing (`-Ln`).
    let d = diffIpvs({ ...input, conns: new Map() });
    if (d.ops.some((op) => op.kind === 'delete-real' && op.reason === 'drained')) d = diffIpvs({ ...input, conns: await this.connections() });
    this.drainingSince = d.drainingSince;
    const batch = renderIpvsBatch(d.ops);
    if (batch === '') {
      this.log.debug({ reason: 'in sync', draining: d.draining }, 'ipvs no-op');
    } else {
      await this.run(['ipvsadm', '-R'], { netns: this.netns, input: batch });
      const count: Record<string, number> = {};
      for (const op of d.ops) count[op.kind] = (count[op.kind] ?? 0) + 1;
      this.log.info({ ops: count, draining: d.draining }, 'ipvs table updated');
    }
    const skipped = desired.filter((v) => !managed.has(v.vip)).map((v) => ({ vip: v.vip, port: v.port, protocol: v.protocol, reason: 'vipNotManaged' }));
    return { mode: d.ops.length ? 'incremental' : 'noop', operations: d.ops.length, skipped, ops: d.ops, batch, draining: d.draining, sysctls };
  }

  private async ensureSysctls(wanted: IpvsSysctls): Promise<{ wanted: IpvsSysctls; changed: IpvsSysctls }> {
    const changed: IpvsSysctls = {};
    for (const [key, value] of Object.entries(wanted)) {
      const cur = (await this.run(['sysctl', '-n', key], { netns: this.netns })).stdout.trim();
      if (cur === value) continue;
      await this.run(['sysctl', '-q', '-w', `${key}=${value}`], { netns: this.netns });
      changed[key] = value;
      this.log.info({ sysctl: key, from: cur, to: value }, 'ipvs sysctl set');
    }
    return { wanted, changed };
  }
}
