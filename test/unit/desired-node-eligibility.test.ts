/** Node eligibility and label-selector matching (Kubernetes semantics). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { nodeEligibility } from '../../src/desired/node-eligibility.js';
import { matchesLabelSelector } from '../../src/model/selector.js';
import { node } from './desired-fixtures.js';

const labels = { role: 'edge', zone: 'a' };
const selectorRows: Array<[string, V1LabelSelector | undefined, boolean]> = [
  ['no selector', undefined, true],
  ['empty selector', {}, true],
  ['matchLabels hit', { matchLabels: { role: 'edge' } }, true],
  ['matchLabels miss', { matchLabels: { role: 'core' } }, false],
  ['In hit', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, true],
  ['In on a missing key', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['1'] }] }, false],
  ['NotIn hit', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, false],
  ['NotIn on a missing key matches', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['1'] }] }, true],
  ['Exists', { matchExpressions: [{ key: 'role', operator: 'Exists' }] }, true],
  ['DoesNotExist', { matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }, false],
  ['unknown operator matches nothing', { matchExpressions: [{ key: 'role', operator: 'Gt', values: ['1'] }] }, false],
  ['labels AND expressions', { matchLabels: { role: 'edge' }, matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, false],
];
for (const [name, sel, want] of selectorRows) {
  test(`label selector: ${name}`, () => assert.equal(matchesLabelSelector(labels, sel), want));
}

const eligibilityRows: Array<[string, Parameters<typeof nodeEligibility>[0], V1LabelSelector | undefined, ReturnType<typeof nodeEligibility>]> = [
  ['ready node', node('n1'), undefined, { eligible: true }],
  ['missing node', undefined, undefined, { eligible: false, why: 'node object not found' }],
  ['NotReady', node('n1', { ready: false }), undefined, { eligible: false, why: 'node not Ready' }],
  ['no conditions yet', { metadata: { name: 'n1' } }, undefined, { eligible: false, why: 'node not Ready' }],
  [
    'exclude label, any value',
    node('n1', { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'false' } }),
    undefined,
    { eligible: false, why: 'node labelled node.kubernetes.io/exclude-from-external-load-balancers' },
  ],
  ['selector miss', node('n1'), { matchLabels: { bgp: 'yes' } }, { eligible: false, why: 'node does not match the node selector' }],
];
for (const [name, n, sel, want] of eligibilityRows) {
  test(`node eligibility: ${name}`, () => assert.deepEqual(nodeEligibility(n, sel), want));
}
