/** Node objects for the lab's "nodes" (there is no kubelet to register them). Pure. */
import type { V1Node } from '@kubernetes/client-node';
import type { LabNode } from './topology.js';

export function nodeObject(n: LabNode, opts: { ready?: boolean; labels?: Record<string, string> } = {}): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'bgpvs.io/lab': 'true', ...opts.labels },
      annotations: { 'bgpvs.io/asn': String(n.asn ?? '') },
    },
    spec: { ...(n.podCidr ? { podCIDR: n.podCidr, podCIDRs: [n.podCidr] } : {}) },
    status: {
      addresses: [
        ...(n.address ? [{ type: 'InternalIP', address: n.address }] : []),
        { type: 'Hostname', address: n.name },
      ],
      conditions: [
        {
          type: 'Ready',
          status: opts.ready === false ? 'False' : 'True',
          reason: opts.ready === false ? 'LabNodeDown' : 'LabNodeReady',
          lastHeartbeatTime: new Date(0),
          lastTransitionTime: new Date(0),
        },
      ],
    },
  };
}
