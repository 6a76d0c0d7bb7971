/**
 * Builds a lab topology with network namespaces: one namespace per node (bridges get a
 * namespace of their own holding br0), one veth pair per link, then each node's exec lines.
 */
import type { NetLab } from '../test/rig/netns.js';
import type { LabTopology } from './topology.js';

export async function buildTopology(lab: NetLab, topo: LabTopology): Promise<void> {
  for (const n of topo.nodes) {
    await lab.addNs(n.name, { forwarding: n.role === 'router' || n.role === 'node' });
  }
  for (const l of topo.links) {
    await lab.link(l.a.node, l.a.iface, l.b.node, l.b.iface);
  }
  for (const n of topo.nodes.filter((x) => x.role === 'bridge')) {
    const ports = topo.links.flatMap((l) => [l.a, l.b]).filter((e) => e.node === n.name).map((e) => e.iface);
    await lab.bridge(n.name, 'br0', ports);
  }
  for (const n of topo.nodes) {
    for (const argv of n.exec) await lab.exec(n.name, argv);
  }
}
