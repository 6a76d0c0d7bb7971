/** Kubernetes label selectors (matchLabels + matchExpressions) as a pure predicate: one implementation serves nodes, peers and pools. */
import type { V1LabelSelector } from '@kubernetes/client-node';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: readonly string[];
}

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly LabelSelectorRequirement[];
}

/** An absent selector matches everything; an empty one too (as in Kubernetes). */
export function selectorMatches(sel: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  return matchesLabelSelector(labels ?? {}, sel as V1LabelSelector | undefined);
}

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
