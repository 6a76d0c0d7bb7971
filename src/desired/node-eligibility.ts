/** Whether a node may announce Service IPs: Ready, not excluded, matching the node selector. */
import type { V1LabelSelector, V1Node } from '@kubernetes/client-node';
import { matchesLabelSelector } from '../model/selector.js';

export const LABEL_EXCLUDE_FROM_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';

export type NodeEligibility = { eligible: true } | { eligible: false; why: string };

export function nodeEligibility(node: V1Node | undefined, selector: V1LabelSelector | undefined): NodeEligibility {
  if (!node) return { eligible: false, why: 'node object not found' };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return { eligible: false, why: 'node not Ready' };
  const labels = node.metadata?.labels ?? {};
  if (Object.hasOwn(labels, LABEL_EXCLUDE_FROM_LB)) return { eligible: false, why: `node labelled ${LABEL_EXCLUDE_FROM_LB}` };
  if (!matchesLabelSelector(labels, selector)) return { eligible: false, why: 'node does not match the node selector' };
  return { eligible: true };
}
