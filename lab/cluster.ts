/**
 * The lab's Kubernetes side: the real API server, its bridge into every node namespace,
 * our manifests (CRDs, RBAC, ConfigMap), a Node object per lab node, and pods with their
 * EndpointSlices — everything a kubelet and the endpoint controller would otherwise do.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeApi } from '../test/rig/kube-api.js';
import type { NetLab } from '../test/rig/netns.js';
import { repoRoot } from '../test/rig/paths.js';
import { ApiBridge } from './api-bridge.js';
import { applyObjects, readManifestDir, splitFoundations, waitCrdsEstablished } from './apply.js';
import { nodeObject } from './nodes.js';
import { addPod, endpointSliceFor, setupPodNetwork, startResponder, type LabPod } from './pods.js';
import type { LabNode, LabTopology } from './topology.js';

export const AGENT_NAMESPACE = 'bgpvs-system';
export const AGENT_SERVICE_ACCOUNT = 'bgpvs';

export class LabCluster {
  readonly pods = new Map<string, LabPod>();
  private constructor(
    readonly lab: NetLab,
    readonly topo: LabTopology,
    readonly api: KubeApi,
    readonly bridge: ApiBridge,
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  get kc(): KubeConfig {
    return this.api.kubeConfig();
  }

  get nodes(): LabNode[] {
    return this.topo.nodes.filter((n) => n.role === 'node');
  }

  /** API server, bridge into node namespaces, manifests, Node objects and the pod network. */
  static async start(lab: NetLab, topo: LabTopology, opts: { dir: string; logger: Logger; apiReadyTimeoutMs?: number }): Promise<LabCluster> {
    await mkdir(opts.dir, { recursive: true });
    const api = await KubeApi.start({ dir: opts.dir, logger: opts.logger.child({ component: 'kube-api' }), ...(opts.apiReadyTimeoutMs ? { readyTimeoutMs: opts.apiReadyTimeoutMs } : {}) });
    const bridge = new ApiBridge({ dir: api.dir, port: api.ports.apiServer, logFile: join(opts.dir, 'api-bridge.log') });
    const c = new LabCluster(lab, topo, api, bridge, opts.dir, opts.logger);
    try {
      await bridge.start();
      for (const n of c.nodes) await bridge.attach(lab, n.name);
      await c.applyManifests();
      await c.registerNodes();
      await setupPodNetwork(lab, c.nodes);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Every manifest in daemonset/ except the DaemonSet itself (the lab runs agents as processes). */
  async applyManifests(): Promise<void> {
    const { foundations, rest } = splitFoundations(readManifestDir(join(repoRoot, 'daemonset')).filter((o) => o.kind !== 'DaemonSet'));
    await applyObjects(this.kc, foundations);
    if (foundations.some((o) => o.kind === 'CustomResourceDefinition')) await waitCrdsEstablished(this.kc, foundations);
    await applyObjects(this.kc, rest);
  }

  async registerNodes(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    for (const n of this.nodes) {
      const body = nodeObject(n);
      const created = await core.createNode({ body });
      // Status is the kubelet's to write, through the status subresource.
      await core.replaceNodeStatus({ name: n.name, body: { ...created, status: body.status } });
    }
  }

  async setNodeReady(name: string, ready: boolean): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const node = this.nodes.find((n) => n.name === name)!;
    const cur = await core.readNode({ name });
    await core.replaceNodeStatus({ name, body: { ...cur, status: nodeObject(node, { ready }).status } });
  }

  /** A kubeconfig file for the agent: a ServiceAccount token bound to daemonset/rbac.yaml's role. */
  agentKubeconfig(): Promise<string> {
    return this.api.tokenKubeconfigFile(AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT, { create: false });
  }

  /** `count` pods on `nodeName` answering on `port`; returns the new ones. */
  async addPods(nodeName: string, count: number, port: number): Promise<LabPod[]> {
    const node = this.nodes.find((n) => n.name === nodeName);
    if (!node) throw new Error(`no lab node ${nodeName}`);
    const have = [...this.pods.values()].filter((p) => p.node === nodeName).length;
    const out: LabPod[] = [];
    for (let i = 1; i <= count; i++) {
      const pod = await addPod(this.lab, node, have + i);
      await startResponder(this.lab, pod, port, join(this.dir, 'pods.log'));
      this.pods.set(pod.name, pod);
      out.push(pod);
    }
    return out;
  }

  /**
   * The node's pod → network-namespace map (`{"namespace/name": "netns"}`), what the agent's
   * `--pod-netns=map:PATH` reads to set up DSR inside its local pods; a CRI runtime answers
   * that question in a cluster.
   */
  podNetnsFile(node: string): string {
    return join(this.dir, `pod-netns-${node}.json`);
  }

  private readonly podKeys = new Map<string, Map<string, string>>();

  /** Record pods under the Kubernetes namespace their endpoints name them in, before the agents see the slice. */
  private async mapPods(namespace: string, pods: readonly LabPod[]): Promise<void> {
    const touched = new Set<string>();
    for (const p of pods) {
      let m = this.podKeys.get(p.node);
      if (!m) this.podKeys.set(p.node, (m = new Map()));
      const key = `${namespace}/${p.name}`;
      if (m.get(key) === this.lab.ns(p.ns)) continue;
      m.set(key, this.lab.ns(p.ns));
      touched.add(p.node);
    }
    for (const node of touched) {
      const file = this.podNetnsFile(node);
      await writeFile(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.podKeys.get(node)!), null, 1));
      await rename(`${file}.tmp`, file);
    }
  }

  /** Create or replace the EndpointSlice of a Service to list exactly `pods`. */
  async setEndpoints(svc: V1Service, pods: readonly LabPod[], opts: { terminating?: ReadonlySet<string>; notReady?: ReadonlySet<string> } = {}): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    await this.mapPods(ns, pods);
    const ports = (svc.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
      protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP',
    }));
    const body = endpointSliceFor(ns, name, pods, ports, opts);
    const disc = this.kc.makeApiClient(DiscoveryV1Api);
    try {
      const cur = await disc.readNamespacedEndpointSlice({ name: body.metadata!.name!, namespace: ns });
      await disc.replaceNamespacedEndpointSlice({ name: body.metadata!.name!, namespace: ns, body: { ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata?.resourceVersion } } });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await disc.createNamespacedEndpointSlice({ namespace: ns, body });
    }
  }

  async stop(): Promise<void> {
    this.bridge.stop();
    await this.api.stop();
  }
}
