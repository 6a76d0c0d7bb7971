/**
 * delegate mode with Calico: bgpvs does not speak BGP; Calico's BIRD advertises the pool
 * CIDRs once they are in the cluster BGPConfiguration `default` spec.serviceLoadBalancerIPs.
 * bgpvs writes them only when allowed (--bgp.allow-write-cni-config) and only when the
 * crd.projectcalico.org BGPConfiguration kind is served. Entries others wrote are kept; an
 * entry bgpvs wrote for a pool since removed is not taken back (no ownership record yet).
 */
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { BgpvsError } from '../errors.js';

export const CALICO_GROUP = 'crd.projectcalico.org';
export const CALICO_VERSION = 'v1';
export const BGP_CONFIGURATIONS = 'bgpconfigurations';

interface CidrEntry {
  cidr: string;
}

/** Pure: the serviceLoadBalancerIPs list with every pool CIDR in it; undefined when nothing changes. */
export function wantedServiceLoadBalancerIPs(current: readonly CidrEntry[] | undefined, poolCidrs: readonly string[]): CidrEntry[] | undefined {
  const have = current ?? [];
  const missing = [...new Set(poolCidrs)].filter((c) => !have.some((e) => e.cidr === c));
  return missing.length ? [...have, ...missing.map((cidr) => ({ cidr }))] : undefined;
}

interface BgpConfiguration {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string };
  spec?: { serviceLoadBalancerIPs?: CidrEntry[]; [k: string]: unknown };
}

/** Adapter: reads `default`, writes the list when it lacks a pool CIDR (create when absent). Returns whether it wrote. */
export class CalicoServiceIpsWriter {
  private readonly api: CustomObjectsApi;
  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async ensure(poolCidrs: readonly string[]): Promise<boolean> {
    const ref = { group: CALICO_GROUP, version: CALICO_VERSION, plural: BGP_CONFIGURATIONS, name: 'default' };
    let cur: BgpConfiguration | undefined;
    try {
      cur = (await this.api.getClusterCustomObject(ref)) as BgpConfiguration;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw new BgpvsError('reading Calico BGPConfiguration default', { cause: err });
    }
    const want = wantedServiceLoadBalancerIPs(cur?.spec?.serviceLoadBalancerIPs, poolCidrs);
    if (!want) return false;
    try {
      if (!cur) {
        const body: BgpConfiguration = { apiVersion: `${CALICO_GROUP}/${CALICO_VERSION}`, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { serviceLoadBalancerIPs: want } };
        await this.api.createClusterCustomObject({ ...ref, body });
      } else {
        // Replace with the read resourceVersion: a concurrent writer makes this a 409, retried by the caller's loop.
        await this.api.replaceClusterCustomObject({ ...ref, body: { ...cur, spec: { ...cur.spec, serviceLoadBalancerIPs: want } } });
      }
    } catch (err) {
      throw new BgpvsError('writing Calico BGPConfiguration default spec.serviceLoadBalancerIPs', { cause: err });
    }
    return true;
  }
}
