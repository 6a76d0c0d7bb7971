/**
 * The node side of the agent in-process, for the k8s-* integration tests: the real `Agent`
 * (watches, model, reconcile loop) as the bgpvs ServiceAccount, its nftables data plane in a
 * throwaway network namespace, and gobgpd as its child (no BGP listener; gRPC on a free
 * loopback port), so a test can read what the node really serves: the nft table and
 * gobgpd's peers and paths.
 */
import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Agent, type AgentStatusReport } from '../../src/agent/agent.js';
import { GobgpClient, FAMILY_IPV4 } from '../../src/bgp/gobgp-client.js';
import { loadConfig } from '../../src/config/config.js';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import { run } from '../../src/exec/run.js';
import { freeLoopbackPorts, type KubeApi } from './kube-api.js';
import { NetLab } from './netns.js';
import { gobgpProtoDir } from './paths.js';

export interface NodeAgent {
  agent: Agent;
  dataplane: NftDataPlane;
  gobgp: GobgpClient;
  lab: NetLab;
  /** The node's virtual servers as nft holds them (read from the kernel). */
  virtualServers(): Promise<unknown[]>;
  /** gobgpd's IPv4 RIB: prefix → next hops (what the node announces). */
  paths(): Promise<Record<string, string[]>>;
  /** gobgpd's configured peers: address → peer AS. */
  peers(): Promise<Record<string, number>>;
  /** The agent's GET /status, over HTTP as an operator reads it. */
  status(): Promise<AgentStatusReport>;
  stop(): Promise<void>;
}

export async function startNodeAgent(api: KubeApi, admin: KubeConfig, o: { nodeName: string; nodeAddress: string; asn?: number; logger: Logger; extraArgs?: string[] }): Promise<NodeAgent> {
  const core = admin.makeApiClient(CoreV1Api);
  // There is no kubelet: the test plays it (a Ready Node with its address).
  const created = await core.createNode({ body: { metadata: { name: o.nodeName, labels: { 'kubernetes.io/hostname': o.nodeName } } } });
  await core.replaceNodeStatus({
    name: o.nodeName,
    body: { ...created, status: { addresses: [{ type: 'InternalIP', address: o.nodeAddress }], conditions: [{ type: 'Ready', status: 'True', reason: 'Test', lastHeartbeatTime: new Date(0), lastTransitionTime: new Date(0) }] } },
  });
  const lab = await NetLab.create('k8snode');
  try {
    await lab.addNs('node');
    const [metricsPort, grpcPort] = (await freeLoopbackPorts(2)) as [number, number];
    const kc = await api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false });
    const config = loadConfig({
      argv: [
        `--node-name=${o.nodeName}`,
        `--node-address=${o.nodeAddress}`,
        `--bgp.asn=${o.asn ?? 65001}`,
        `--bgp.gobgpd=child:${grpcPort}`,
        `--metrics-address=127.0.0.1:${metricsPort}`,
        '--dataplane=nft',
        '--bgp.graceful-shutdown=0s',
        '--ipam.enabled=false',
        ...(o.extraArgs ?? []),
      ],
    });
    const dataplane = new NftDataPlane({ run, logger: o.logger, nodeName: o.nodeName, netns: lab.ns('node') });
    const agent = new Agent({ config, logger: o.logger, dataplane, kubeConfig: kc });
    await agent.start();
    const gobgp = new GobgpClient({ target: `127.0.0.1:${grpcPort}`, protoDir: gobgpProtoDir() });
    return {
      agent,
      dataplane,
      gobgp,
      lab,
      virtualServers: async () => (await dataplane.list()).map((v) => JSON.parse(JSON.stringify(v)) as unknown),
      paths: async () => {
        const out: Record<string, string[]> = {};
        for (const d of await gobgp.listPath(FAMILY_IPV4)) out[d.prefix] = d.paths.map((p) => JSON.stringify(p.pattrs ?? [])).sort();
        return out;
      },
      peers: async () => Object.fromEntries((await gobgp.listPeer()).map((p) => [p.conf.neighbor_address, p.conf.peer_asn])),
      status: async () => (await (await fetch(`http://127.0.0.1:${metricsPort}/status`)).json()) as AgentStatusReport,
      stop: async () => {
        gobgp.close();
        await agent.stop();
        await lab.destroy();
      },
    };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

/** An EndpointSlice with one ready endpoint on `nodeName`, so the node serves the Service. */
export async function localEndpoint(admin: KubeConfig, ns: string, svc: string, nodeName: string, address: string, port = 80): Promise<void> {
  await admin.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace: ns,
    body: {
      metadata: { name: `${svc}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [address], conditions: { ready: true, serving: true, terminating: false }, nodeName }],
      ports: [{ name: `p${port}tcp`, port, protocol: 'TCP' }],
    },
  });
}
