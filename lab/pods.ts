/**
 * Lab "pods": a namespace per pod on a per-node bridge (cbr0) holding the node's pod CIDR,
 * with host-gw routes between nodes' pod CIDRs, like a flat L3 CNI. Each pod runs a socat
 * responder that answers with its name and the client address it saw.
 */
import ipaddr from 'ipaddr.js';
import { fileURLToPath } from 'node:url';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { NetLab } from '../test/rig/netns.js';
import { spawnDaemon } from '../src/exec/run.js';
import { waitFor } from '../src/util/wait.js';
import { BgpvsError } from '../src/errors.js';
import type { LabNode } from './topology.js';

export interface LabPod {
  name: string;
  node: string;
  ip: string;
  /** Lab namespace name (pass to lab.exec). */
  ns: string;
}

const RESPONDER = fileURLToPath(new URL('./pod-responder.sh', import.meta.url));
const UDP_RESPONDER = fileURLToPath(new URL('./udp-responder.mjs', import.meta.url));

/** The n-th host address of a CIDR (n=1 → the gateway). */
export function hostAddress(cidr: string, n: number): string {
  const [net, len] = ipaddr.parseCIDR(cidr);
  const bytes = net.toByteArray();
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i]! + carry;
    bytes[i] = v % 256;
    carry = Math.floor(v / 256);
  }
  const addr = ipaddr.fromByteArray(bytes);
  if (!addr.match([net, len] as [ipaddr.IPv4 | ipaddr.IPv6, number])) throw new BgpvsError(`host ${n} is outside ${cidr}`);
  return addr.toString();
}

/** cbr0 with the pod gateway in every node, and routes to the other nodes' pod CIDRs. */
export async function setupPodNetwork(lab: NetLab, nodes: readonly LabNode[]): Promise<void> {
  for (const n of nodes) {
    if (!n.podCidr) throw new BgpvsError(`lab node ${n.name} has no bgpvs.io/pod-cidr label`);
    const len = n.podCidr.split('/')[1];
    await lab.exec(n.name, ['ip', 'link', 'add', 'cbr0', 'type', 'bridge']);
    await lab.addr(n.name, 'cbr0', `${hostAddress(n.podCidr, 1)}/${len}`);
    await lab.setLink(n.name, 'cbr0', 'up');
    for (const other of nodes) {
      if (other === n || !other.podCidr || !other.address) continue;
      await lab.route(n.name, other.podCidr, ['via', other.address]);
    }
  }
}

/** Pod `index` (1-based) on `node`: namespace, veth into cbr0, address, default route. */
export async function addPod(lab: NetLab, node: LabNode, index: number): Promise<LabPod> {
  if (!node.podCidr) throw new BgpvsError(`lab node ${node.name} has no pod CIDR`);
  const name = `${node.name}p${index}`;
  const ip = hostAddress(node.podCidr, 9 + index);
  const len = node.podCidr.split('/')[1];
  await lab.addNs(name);
  await lab.link(name, 'eth0', node.name, `veth${index}`);
  await lab.exec(node.name, ['ip', 'link', 'set', `veth${index}`, 'master', 'cbr0']);
  await lab.addr(name, 'eth0', `${ip}/${len}`);
  await lab.route(name, 'default', ['via', hostAddress(node.podCidr, 1)]);
  return { name, node: node.name, ip, ns: name };
}

/**
 * Responders on TCP (socat, a fork per connection) and UDP (lab/udp-responder.mjs) `port` in
 * the pod, returned once both are bound; they die with the pod's namespace.
 */
export async function startResponder(lab: NetLab, pod: LabPod, port: number, logFile?: string): Promise<void> {
  const env = { ...process.env, BGPVS_POD: pod.name } as Record<string, string>;
  const opts = { netns: lab.ns(pod.ns), env, ...(logFile ? { logFile } : {}) };
  void spawnDaemon(['socat', `TCP-LISTEN:${port},fork,reuseaddr`, `EXEC:${RESPONDER}`], opts);
  void spawnDaemon([process.execPath, UDP_RESPONDER, String(port)], opts);
  await waitFor(
    `${pod.name}: TCP and UDP responders bound on ${port}`,
    async () => {
      const r = await lab.exec(pod.ns, ['ss', '-Hltun', `sport = :${port}`], { allowFailure: true });
      const kinds = new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]));
      return kinds.has('tcp') && kinds.has('udp') ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

/**
 * A TCP "hold" responder on `port`: greets like the plain one ("pod clientIP"), then keeps
 * the connection open and echoes every byte back, for long-lived flows.
 */
export function startHoldResponder(lab: NetLab, pod: LabPod, port: number, logFile?: string): void {
  const env = { ...process.env, BGPVS_POD: pod.name, BGPVS_HOLD: '1' } as Record<string, string>;
  void spawnDaemon(['socat', `TCP-LISTEN:${port},fork,reuseaddr`, `EXEC:${RESPONDER}`], { netns: lab.ns(pod.ns), env, ...(logFile ? { logFile } : {}) });
}

/** An EndpointSlice for `service` listing `pods` (all ready), as the endpoint controller would. */
export function endpointSliceFor(
  namespace: string,
  service: string,
  pods: readonly LabPod[],
  ports: ReadonlyArray<{ name?: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }>,
  opts: { notReady?: ReadonlySet<string>; terminating?: ReadonlySet<string> } = {},
): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-lab`, namespace, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'lab.bgpvs.io' } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => {
      const terminating = opts.terminating?.has(p.name) ?? false;
      const ready = !terminating && !(opts.notReady?.has(p.name) ?? false);
      return {
        addresses: [p.ip],
        nodeName: p.node,
        targetRef: { kind: 'Pod', namespace, name: p.name },
        conditions: { ready, serving: ready || terminating, terminating },
      };
    }),
    ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol })),
  };
}
