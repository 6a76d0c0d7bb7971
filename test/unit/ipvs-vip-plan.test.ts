/** VIP planning for the node dummy interface and pod DSR addresses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpAddrJson, planVips } from '../../src/dataplane/vip/plan.js';

test('parseIpAddrJson: host addresses only, canonical', () => {
  const json = JSON.stringify([{ ifname: 'lo', addr_info: [
    { family: 'inet', local: '127.0.0.1', prefixlen: 8 },
    { family: 'inet', local: '192.0.2.10', prefixlen: 32 },
    { family: 'inet6', local: '2001:0db8::0010', prefixlen: 128 },
    { family: 'inet6', local: '::1', prefixlen: 128 },
  ] }]);
  assert.deepEqual(parseIpAddrJson(json), ['192.0.2.10', '2001:db8::10', '::1']);
  assert.deepEqual(parseIpAddrJson(''), []);
});

test('planVips: add missing, remove unwanted, keep protected, canonicalise', () => {
  assert.deepEqual(planVips(['192.0.2.10', '2001:DB8::10', 'junk'], ['192.0.2.10', '192.0.2.99', '::1'], (ip) => ip === '::1'), {
    add: ['2001:db8::10'],
    remove: ['192.0.2.99'],
  });
  assert.deepEqual(planVips([], []), { add: [], remove: [] });
});
