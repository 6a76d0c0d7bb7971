/** Whether a node may announce Service IPs: Ready, not excluded, matching the node selector. */
import type { V1LabelSelector, V1Node } from '@kubernetes/client-node';

export const LABEL_EXCLUDE_FROM_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';

export type NodeEligibility = { eligible: true } | { eligible: false; why: string };

/** Kubernetes label-selector semantics: matchLabels AND every matchExpression; empty matches all. */
export function matchesLabelSelector(labels: Readonly<Record<string, string>>, sel: V1LabelSelector | undefined): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // an unknown operator matches nothing, as the apiserver would reject it
    }
  }
  return true;
}

export function nodeEligibility(node: V1Node | undefined, selector: V1LabelSelector | undefined): NodeEligibility {
  if (!node) return { eligible: false, why: 'node object not found' };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return { eligible: false, why: 'node not Ready' };
  const labels = node.metadata?.labels ?? {};
  if (Object.hasOwn(labels, LABEL_EXCLUDE_FROM_LB)) return { eligible: false, why: `node labelled ${LABEL_EXCLUDE_FROM_LB}` };
  if (!matchesLabelSelector(labels, selector)) return { eligible: false, why: 'node does not match the node selector' };
  return { eligible: true };
}
