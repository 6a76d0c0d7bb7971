import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wantedServiceLoadBalancerIPs } from '../../src/coexist/calico-delegate.js';

test('wantedServiceLoadBalancerIPs: adds missing pool CIDRs after the entries already there; nothing to do is undefined', () => {
  assert.deepEqual(wantedServiceLoadBalancerIPs(undefined, ['10.100.0.0/24']), [{ cidr: '10.100.0.0/24' }]);
  assert.deepEqual(wantedServiceLoadBalancerIPs([{ cidr: '192.0.2.0/24' }], ['10.100.0.0/24', '10.100.0.0/24']), [{ cidr: '192.0.2.0/24' }, { cidr: '10.100.0.0/24' }]);
  assert.equal(wantedServiceLoadBalancerIPs([{ cidr: '10.100.0.0/24' }], ['10.100.0.0/24']), undefined);
});
