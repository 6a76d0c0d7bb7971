/** `ip -j route` parser, on outputs captured from the router namespace (frr-router.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gateways, parseIpRouteJson } from '../rig/parsers/ip-route-json.js';
import { BgpvsError } from '../../src/errors.js';

const fx = (name: string) => readFileSync(new URL(`./fixtures/rig/${name}`, import.meta.url), 'utf8');

test('parseIpRouteJson: table', () => {
  const cases: { name: string; text: string; want: ReturnType<typeof parseIpRouteJson> }[] = [
    { name: 'empty output', text: '', want: [] },
    { name: 'empty array', text: '[]\n', want: [] },
    {
      name: 'single path (captured)',
      text: fx('ip-route-single.json'),
      want: [{ dst: '10.100.0.10', protocol: 'bgp', metric: 20, nexthops: [{ gateway: '10.0.0.11', dev: 'br0', weight: 1, flags: [] }] }],
    },
    {
      name: 'ECMP (captured)',
      text: fx('ip-route-ecmp.json'),
      want: [
        {
          dst: '10.100.0.10',
          protocol: 'bgp',
          metric: 20,
          nexthops: [
            { gateway: '10.0.0.11', dev: 'br0', weight: 1, flags: [] },
            { gateway: '10.0.0.12', dev: 'br0', weight: 1, flags: [] },
          ],
        },
      ],
    },
    {
      name: 'weighted multipath',
      text: '[{"dst":"10.100.0.10","protocol":"bgp","flags":[],"nexthops":[{"gateway":"10.0.0.11","dev":"br0","weight":192,"flags":[]},{"gateway":"10.0.0.12","dev":"br0","weight":64,"flags":["onlink"]}]}]',
      want: [{ dst: '10.100.0.10', protocol: 'bgp', nexthops: [{ gateway: '10.0.0.11', dev: 'br0', weight: 192, flags: [] }, { gateway: '10.0.0.12', dev: 'br0', weight: 64, flags: ['onlink'] }] }],
    },
    { name: 'connected', text: '[{"dst":"10.0.0.0/24","dev":"br0","protocol":"kernel","scope":"link","prefsrc":"10.0.0.1","flags":[]}]', want: [{ dst: '10.0.0.0/24', protocol: 'kernel', nexthops: [{ dev: 'br0', weight: 1, flags: [] }] }] },
    { name: 'blackhole', text: '[{"type":"blackhole","dst":"10.9.0.0/16","flags":[]}]', want: [{ type: 'blackhole', dst: '10.9.0.0/16', nexthops: [] }] },
  ];
  for (const c of cases) assert.deepEqual(parseIpRouteJson(c.text), c.want, c.name);
});

test('parseIpRouteJson: weighted ECMP from link-bandwidth (captured)', () => {
  assert.deepEqual(parseIpRouteJson(fx('ip-route-lb.json'))[0]?.nexthops.map((n) => [n.gateway, n.weight]), [['10.0.0.12', 25], ['10.0.0.11', 75]]);
  assert.deepEqual(parseIpRouteJson(fx('ip-route-ecmp-bird.json'))[0]?.protocol, 'bird');
});

test('parseIpRouteJson: errors; gateways()', () => {
  assert.throws(() => parseIpRouteJson('not json'), BgpvsError);
  assert.throws(() => parseIpRouteJson('{}'), BgpvsError);
  assert.deepEqual(gateways(parseIpRouteJson(fx('ip-route-ecmp.json'))[0]), ['10.0.0.11', '10.0.0.12']);
  assert.deepEqual(gateways(undefined), []);
});
