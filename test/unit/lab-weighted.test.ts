import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersByNode, sessionResets } from '../../lab/weighted.js';

test('lab weighted: answers ("pod clientIP" → n) count per node of the pod; unknown answers keep their key', () => {
  const node = (pod: string) => ({ node1p1: 'node1', node1p2: 'node1', node2p1: 'node2' })[pod];
  assert.deepEqual(
    answersByNode({ 'node1p1 192.168.100.10': 5, 'node1p2 192.168.100.10': 2, 'node2p1 192.168.100.10': 3, 'no answer': 1 }, node),
    { node1: 7, node2: 3, 'no answer': 1 },
  );
  assert.deepEqual(answersByNode({}, node), {});
});

test('sessionResets: the neighbours whose established-session count moved between two reads', () => {
  assert.deepEqual(sessionResets({ '10.0.0.11': 1, '10.0.0.12': 2 }, { '10.0.0.11': 1, '10.0.0.12': 2 }), {});
  assert.deepEqual(sessionResets({ '10.0.0.11': 1, '10.0.0.12': 2 }, { '10.0.0.11': 2, '10.0.0.12': 2 }), { '10.0.0.11': 1 });
  assert.deepEqual(sessionResets({}, { '10.0.0.13': 1 }), { '10.0.0.13': 1 }, 'a neighbour that came up meanwhile counts');
  assert.deepEqual(sessionResets({ '10.0.0.11': 1, '10.0.0.13': 1 }, { '10.0.0.11': 1, '10.0.0.13': 2 }, ['10.0.0.11', '10.0.0.12']), {}, 'only the neighbours asked about');
});
