/**
 * The Kubernetes side of the delegate-mode coexistence test: the real API server bridged into
 * the lab's node namespace, our daemonset/ manifests (CRDs, RBAC incl. the Calico delegate
 * role, Namespace, ConfigMap), Calico's BGP CRDs (minimal stand-ins from fixtures/), the
 * node's Node object, an IP pool and a LoadBalancer Service with one endpoint on the node.
 * The agent runs as a real `bgpvs agent` process in the node namespace.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ResultPromise } from 'execa';
import { KubeApi } from './kube-api.js';
import { repoRoot } from './paths.js';
import { ApiBridge } from '../../lab/api-bridge.js';
import { applyObjects, readManifestDir, readManifests, splitFoundations, waitCrdsEstablished } from '../../lab/apply.js';
import { endpointSliceFor } from '../../lab/pods.js';
import { spawnDaemon } from '../../src/exec/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { waitFor } from '../../src/util/wait.js';
import { CNI_ASN, NODE, POD_CIDR, type CoexistLab } from './coexist-lab.js';

export const NODE_NAME = 'node1';
export const CALICO_CRDS = fileURLToPath(new URL('../integration/fixtures/calico-bgp-crds.yaml', import.meta.url));

export class CoexistCluster {
  private constructor(
    readonly api: KubeApi,
    private readonly bridge: ApiBridge,
    /** The agent's kubeconfig: the bgpvs ServiceAccount's token (daemonset/rbac*.yaml rights). */
    readonly agentKubeconfig: string,
  ) {}

  get kc(): KubeConfig {
    return this.api.kubeConfig();
  }

  static async start(c: CoexistLab): Promise<CoexistCluster> {
    const dir = join(c.dir, 'kube');
    mkdirSync(dir, { recursive: true });
    const api = await KubeApi.start({ dir, logger: silentLogger() });
    const bridge = new ApiBridge({ dir: api.dir, port: api.ports.apiServer });
    try {
      await bridge.start();
      await bridge.attach(c.lab, 'n0');
      const kc = api.kubeConfig();
      const objects = [...readManifestDir(join(repoRoot, 'daemonset')).filter((o) => o.kind !== 'DaemonSet'), ...readManifests(CALICO_CRDS)];
      const { foundations, rest } = splitFoundations(objects);
      await applyObjects(kc, foundations);
      await waitCrdsEstablished(kc, foundations);
      await applyObjects(kc, rest);
      const core = kc.makeApiClient(CoreV1Api);
      const node = await core.createNode({ body: { metadata: { name: NODE_NAME, labels: { 'kubernetes.io/hostname': NODE_NAME } }, spec: { podCIDR: POD_CIDR, podCIDRs: [POD_CIDR] } } });
      await core.replaceNodeStatus({
        name: NODE_NAME,
        body: { ...node, status: { addresses: [{ type: 'InternalIP', address: NODE }], conditions: [{ type: 'Ready', status: 'True', reason: 'Test', lastHeartbeatTime: new Date(0), lastTransitionTime: new Date(0) }] } },
      });
      const agentKubeconfig = await api.tokenKubeconfigFile('bgpvs-system', 'bgpvs', { create: false });
      return new CoexistCluster(api, bridge, agentKubeconfig);
    } catch (err) {
      bridge.stop();
      await api.stop();
      throw err;
    }
  }

  async createPool(name: string, cidr: string): Promise<void> {
    await this.kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
      group: 'bgpvs.io',
      version: 'v1alpha1',
      plural: 'ippools',
      body: { apiVersion: 'bgpvs.io/v1alpha1', kind: 'IPPool', metadata: { name }, spec: { cidrs: [cidr] } },
    });
  }

  /** A LoadBalancer Service (externalTrafficPolicy Local) with one ready endpoint on the node; resolves with its allocated IP. */
  async createService(ns: string, name: string, port: number): Promise<string> {
    const core = this.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name, namespace: ns }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'p', port, targetPort: port, protocol: 'TCP' }] } },
    });
    const pod = { name: `${name}-1`, node: NODE_NAME, ip: '10.244.1.10', ns: '' };
    await this.kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({ namespace: ns, body: endpointSliceFor(ns, name, [pod], [{ name: 'p', port, protocol: 'TCP' }]) });
    return waitFor(`an IP for ${ns}/${name}`, async () => (await core.readNamespacedServiceStatus({ name, namespace: ns })).status?.loadBalancer?.ingress?.[0]?.ip, { timeoutMs: 60_000, intervalMs: 200 });
  }

  /** Calico's BGPConfiguration `default` spec.serviceLoadBalancerIPs, or undefined while absent. */
  async calicoServiceLoadBalancerIPs(): Promise<Array<{ cidr: string }> | undefined> {
    try {
      const o = (await this.kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'crd.projectcalico.org', version: 'v1', plural: 'bgpconfigurations', name: 'default' })) as {
        spec?: { serviceLoadBalancerIPs?: Array<{ cidr: string }> };
      };
      return o.spec?.serviceLoadBalancerIPs;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** `bgpvs agent` argv for the node (AS `CNI_ASN` unless given), plus `extra` flags. */
  agentArgv(extra: readonly string[]): string[] {
    return [
      process.execPath,
      join(repoRoot, 'bin', 'bgpvs.js'),
      'agent',
      `--node-name=${NODE_NAME}`,
      `--node-address=${NODE}`,
      `--kubeconfig=${this.agentKubeconfig}`,
      `--bgp.asn=${CNI_ASN}`,
      '--dataplane=nft',
      '--metrics-address=127.0.0.1:9254',
      '--bgp.graceful-shutdown=0s',
      ...extra,
    ];
  }

  startAgent(c: CoexistLab, extra: readonly string[], logFile: string): ResultPromise {
    const p = spawnDaemon(this.agentArgv(extra), { netns: c.lab.ns('n0'), logFile });
    p.catch(() => undefined);
    return p;
  }

  async stop(): Promise<void> {
    this.bridge.stop();
    await this.api.stop();
  }
}
