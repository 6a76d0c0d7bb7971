import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersByNode } from '../../src/lab/weighted.js';

test('lab weighted: answers ("pod clientIP" → n) count per node of the pod; unknown answers keep their key', () => {
  const node = (pod: string) => ({ node1p1: 'node1', node1p2: 'node1', node2p1: 'node2' })[pod];
  assert.deepEqual(
    answersByNode({ 'node1p1 192.168.100.10': 5, 'node1p2 192.168.100.10': 2, 'node2p1 192.168.100.10': 3, 'no answer': 1 }, node),
    { node1: 7, node2: 3, 'no answer': 1 },
  );
  assert.deepEqual(answersByNode({}, node), {});
});
