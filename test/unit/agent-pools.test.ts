import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { modelPools, rangeToCidrs } from '../../src/agent/pools.js';
import { ipToBigInt, parsePool, type IpRange } from '../../src/ipam/pools.js';

const range = (a: string, b: string): IpRange => {
  const s = ipToBigInt(a)!;
  return { family: s.family, start: s.value, end: ipToBigInt(b)!.value } as IpRange;
};

const cases: Array<[string, string, string[]]> = [
  ['10.0.0.0', '10.0.0.255', ['10.0.0.0/24']],
  ['10.0.0.10', '10.0.0.10', ['10.0.0.10/32']],
  ['10.0.0.10', '10.0.0.20', ['10.0.0.10/31', '10.0.0.12/30', '10.0.0.16/30', '10.0.0.20/32']],
  ['10.0.0.255', '10.0.1.0', ['10.0.0.255/32', '10.0.1.0/32']],
  ['0.0.0.0', '255.255.255.255', ['0.0.0.0/0']],
  ['2001:db8::', '2001:db8::ffff', ['2001:db8::/112']],
  ['2001:db8::1', '2001:db8::2', ['2001:db8::1/128', '2001:db8::2/128']],
];
for (const [a, b, want] of cases) test(`pools: ${a}-${b} → ${want.join(' ')}`, () => assert.deepEqual(rangeToCidrs(range(a, b)), want));

test('pools: the CIDRs of any IPv4 range cover exactly that range (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 5000 }), (start, len) => {
      const end = Math.min(2 ** 32 - 1, start + len);
      const cidrs = rangeToCidrs({ family: 'IPv4', start: BigInt(start), end: BigInt(end) } as IpRange);
      let next = BigInt(start);
      for (const c of cidrs) {
        const [ip, l] = c.split('/');
        const base = ipToBigInt(ip!)!.value;
        assert.equal(base, next, `${c} starts where the previous ended`);
        const size = 1n << BigInt(32 - Number(l));
        assert.equal(base % size, 0n, `${c} is aligned`);
        next = base + size;
      }
      assert.equal(next, BigInt(end) + 1n);
    }),
  );
});

test('pools: IPPool objects become model pools with their BGP attributes', () => {
  const r = parsePool({
    metadata: { name: 'p' },
    spec: { ranges: [{ start: '192.168.10.10', end: '192.168.10.13' }], cidrs: ['10.200.0.0/24'], bgp: { communities: ['64512:100'], localPref: 150, weightedEcmp: true } },
  });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const [m] = modelPools([r.pool]);
  assert.deepEqual([...m!.cidrs].sort(), ['10.200.0.0/24', '192.168.10.10/31', '192.168.10.12/31'].sort());
  assert.deepEqual(m!.communities, ['64512:100']);
  assert.equal(m!.localPref, 150);
  assert.equal(m!.weightedEcmp, true);
});
