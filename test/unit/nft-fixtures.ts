import type { VirtualServer } from '../../src/model/types.js';
import type { ClusterDsrContext, DrContext } from '../../src/dataplane/nft/render.js';

const base = { scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0, services: ['default/web'] } as const;

export const fixtureVs: VirtualServer[] = [
  { ...base, vip: '10.100.0.10', protocol: 'TCP', port: 80, family: 'IPv4', forwarding: 'nat',
    realServers: [ { address: '10.0.0.21', port: 8080, weight: 1, nodeName: 'node1' }, { address: '10.0.0.22', port: 8080, weight: 2, nodeName: 'node2' }, { address: '10.0.0.23', port: 8080, weight: 0, nodeName: 'node3' } ] },
  { ...base, vip: '10.100.0.10', protocol: 'UDP', port: 53, family: 'IPv4', forwarding: 'nat', persistenceSeconds: 10800,
    realServers: [ { address: '10.0.0.21', port: 53, weight: 1, nodeName: 'node1' } ] },
  { ...base, vip: '2001:db8::10', protocol: 'TCP', port: 443, family: 'IPv6', forwarding: 'nat',
    realServers: [ { address: '2001:db8:1::21', port: 8443, weight: 1, nodeName: 'node1' }, { address: '2001:db8:1::22', port: 8443, weight: 1 } ] },
  { ...base, vip: '10.100.0.20', protocol: 'TCP', port: 80, family: 'IPv4', forwarding: 'dr',
    realServers: [ { address: '10.0.0.21', port: 80, weight: 1 }, { address: '10.0.0.22', port: 80, weight: 1 } ] },
  { ...base, vip: '10.100.0.30', protocol: 'TCP', port: 80, family: 'IPv4', forwarding: 'nat', realServers: [] },
];

/** The node the fixtures are rendered for. */
export const fixtureNode = 'node1';

export const fixtureDr: DrContext = {
  device: 'eth0',
  deviceMac: '02:00:00:00:00:11',
  backendMacs: new Map([ ['10.0.0.21', '02:00:00:00:00:21'], ['10.0.0.22', '02:00:00:00:00:22'] ]),
};

/** Cluster DSR on eth0: node2 on-link (node1 is this node). */
export const fixtureCluster: ClusterDsrContext = { device: 'eth0', nodes: new Map([['node2', '10.0.0.12']]) };
