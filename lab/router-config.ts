/**
 * The lab router's FRR config (and its BIRD twin, labBirdConfig), derived from the topology: one eBGP neighbour per node, ECMP
 * across them (multipath-relax: every node has its own AS), BFD at 100 ms × 3, graceful restart. The same text
 * is committed under lab/routers/ for containerlab (one integrated file there), and a unit
 * test keeps the two equal.
 *
 * Weighted ECMP needs no line: FRR weights multipath next hops by the link-bandwidth
 * extended community whenever every path carries one, and falls back to plain ECMP when one
 * does not. `bgp bestpath bandwidth` only changes that (`ignore | skip-missing |
 * default-weight-for-missing`; FRR 8.4 rejects the bare command as incomplete), and the
 * default is the safe one for bgpvs: a node whose path lacks it (weighting off, or an older
 * agent) still gets an equal share rather than none.
 */
import type { FrrConfig } from '../test/rig/frr-router.js';
import type { BirdConfig } from '../test/rig/bird-router.js';
import { renderFrrConfig } from '../test/rig/frr-router.js';
import { BgpvsError } from '../src/errors.js';
import type { LabTopology } from './topology.js';

export function labRouterConfig(topo: LabTopology, routerName: string): FrrConfig {
  const router = topo.nodes.find((n) => n.name === routerName && n.role === 'router');
  if (!router?.asn || !router.address) throw new BgpvsError(`lab router ${routerName} needs an ASN label and an address`);
  const nodes = topo.nodes.filter((n) => n.role === 'node');
  return {
    asn: router.asn,
    routerId: router.address,
    hostname: router.name,
    multipath: { relax: true, maxPaths: 16 },
    bfdProfile: { name: 'fast', receiveMs: 100, transmitMs: 100, multiplier: 3 },
    // The nodes' peers run graceful restart too (src/lab/agents.ts): a bgpd restart keeps the
    // VIP routes in the FIB (test/integration/bgp-frr-restart.test.ts).
    extraBgpLines: ['bgp graceful-restart'],
    neighbors: nodes.map((n) => ({
      address: n.address!,
      asn: n.asn!,
      bfd: true,
      timers: { keepaliveSeconds: 3, holdSeconds: 9, connectSeconds: 1 },
    })),
  };
}

/** One integrated file (containerlab's FRR image loads it with vtysh). */
export function labRouterConfigFile(topo: LabTopology, routerName: string): string {
  const r = renderFrrConfig(labRouterConfig(topo, routerName));
  const header = [
    '! Generated from lab/bgpvs.clab.yml by src/lab/router-config.ts; test/unit/lab-router-config.test.ts keeps it in step.',
    '! Weighted ECMP: FRR weights the next hops by the link-bandwidth community bgpvs sends, with no line needed',
    '! (plain ECMP when a path lacks it); `bgp bestpath bandwidth ignore` would turn it off.',
  ];
  return `${header.join('\n')}\n${r.frr}${r.bfdd}`;
}

/**
 * The same router as BIRD 2 (`startLab({ router: 'bird' })`): one eBGP session per node with
 * BFD at 100 ms × 3 and graceful restart, ECMP into the kernel (`merge paths`).
 */
export function labBirdConfig(topo: LabTopology, routerName: string): BirdConfig {
  const router = topo.nodes.find((n) => n.name === routerName && n.role === 'router');
  if (!router?.asn || !router.address) throw new BgpvsError(`lab router ${routerName} needs an ASN label and an address`);
  return {
    asn: router.asn,
    routerId: router.address,
    mergePaths: true,
    bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
    neighbors: topo.nodes
      .filter((n) => n.role === 'node')
      .map((n) => ({
        address: n.address!,
        asn: n.asn!,
        name: n.name,
        localAddress: router.address!,
        bfd: true,
        timers: { holdSeconds: 9, keepaliveSeconds: 3 },
        connectRetrySeconds: 1,
        gracefulRestart: { restartTimeSeconds: 120 },
      })),
  };
}
