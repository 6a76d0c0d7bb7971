import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSliceFor, hostAddress } from '../../lab/pods.js';
import { BgpvsError } from '../../src/errors.js';

test('lab pods: host addresses inside the pod CIDR, with carry; outside is refused', () => {
  assert.equal(hostAddress('10.244.1.0/24', 1), '10.244.1.1');
  assert.equal(hostAddress('10.244.1.0/24', 10), '10.244.1.10');
  assert.equal(hostAddress('10.244.0.0/16', 300), '10.244.1.44');
  assert.equal(hostAddress('fd00:244::/64', 17), 'fd00:244::11');
  assert.throws(() => hostAddress('10.244.1.0/24', 256), BgpvsError);
});

test('lab pods: EndpointSlice conditions for ready, not-ready and terminating pods', () => {
  const pods = [
    { name: 'node1p1', node: 'node1', ip: '10.244.1.10', ns: 'node1p1' },
    { name: 'node1p2', node: 'node1', ip: '10.244.1.11', ns: 'node1p2' },
    { name: 'node2p1', node: 'node2', ip: '10.244.2.10', ns: 'node2p1' },
  ];
  const s = endpointSliceFor('demo', 'web', pods, [{ name: 'http', port: 8080, protocol: 'TCP' }], {
    notReady: new Set(['node1p2']),
    terminating: new Set(['node2p1']),
  });
  assert.equal(s.metadata?.labels?.['kubernetes.io/service-name'], 'web');
  assert.deepEqual(
    s.endpoints.map((e) => [e.addresses[0], e.nodeName, e.conditions]),
    [
      ['10.244.1.10', 'node1', { ready: true, serving: true, terminating: false }],
      ['10.244.1.11', 'node1', { ready: false, serving: false, terminating: false }],
      ['10.244.2.10', 'node2', { ready: false, serving: true, terminating: true }],
    ],
  );
  assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
});
