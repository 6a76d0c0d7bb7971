/**
 * The one data-plane interface: IPVS (main) and nftables (kernels without IPVS) both satisfy it.
 */
import { access } from 'node:fs/promises';
import type { VirtualServer } from '../model/types.js';
import type { Runner } from '../exec/run.js';

export type DataPlaneName = 'ipvs' | 'nft';

export interface SyncResult {
  /** 'full' replaced our tables; 'incremental' changed only some objects/elements; 'noop' changed nothing. */
  mode: 'full' | 'incremental' | 'noop';
  /** Statements applied (0 on a no-op pass). */
  operations: number;
  /** Virtual servers not programmed, with why (e.g. no backend with weight, no MAC for DR). */
  skipped: readonly { vip: string; port: number; protocol: string; reason: string }[];
}

/** What a pass tells the data plane besides the virtual servers (from the same snapshot). */
export interface DataPlaneContext {
  /** The IP pools' CIDRs: with IPVS, the VIPs bgpvs may own. */
  poolCidrs: readonly string[];
  /** Every node's addresses (nft Cluster DSR: where to hand a packet over). */
  nodeAddresses: ReadonlyMap<string, readonly string[]>;
}

export interface DataPlane {
  readonly name: DataPlaneName;
  /** Make the node's data plane match `desired` (owning only our own objects). */
  sync(desired: readonly VirtualServer[], ctx?: DataPlaneContext): Promise<SyncResult>;
  /** What the kernel holds now, read back. */
  list(): Promise<VirtualServer[]>;
}

export interface DetectDeps {
  run: Runner;
  /** Resolves when the path exists. */
  exists?: (path: string) => Promise<boolean>;
}

const defaultExists = async (p: string): Promise<boolean> => {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
};

/** IPVS when `/proc/net/ip_vs` exists or `modprobe ip_vs` works, else nft; `override` (config) wins. */
export async function detectDataPlane(deps: DetectDeps, override?: DataPlaneName | 'auto'): Promise<DataPlaneName> {
  if (override === 'ipvs' || override === 'nft') return override;
  const exists = deps.exists ?? defaultExists;
  if (await exists('/proc/net/ip_vs')) return 'ipvs';
  const res = await deps.run(['modprobe', 'ip_vs'], { allowFailure: true });
  if (res.exitCode === 0 && (await exists('/proc/net/ip_vs'))) return 'ipvs';
  return 'nft';
}
