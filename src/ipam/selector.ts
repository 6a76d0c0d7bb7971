/** Kubernetes label selectors (matchLabels + matchExpressions) as a pure predicate. */
import type { V1LabelSelector } from '@kubernetes/client-node';
import { matchesLabelSelector } from '../desired/node-eligibility.js';

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
  // One implementation of selector semantics serves nodes, peers and pools.
  return matchesLabelSelector(labels ?? {}, sel as V1LabelSelector | undefined);
}
