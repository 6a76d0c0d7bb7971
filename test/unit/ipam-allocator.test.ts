import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { V1Service } from '@kubernetes/client-node';
import { parsePool, poolSize } from '../../src/ipam/pools.js';
import { cfg, pool, run, summary, svc } from './ipam-fixtures.js';
import { serviceRequest } from '../../src/ipam/service-request.js';

const p4 = pool('p4', { cidrs: ['192.0.2.0/30'] });
const p6 = pool('p6', { cidrs: ['2001:db8::/126'] });
const dual = pool('dual', { cidrs: ['198.51.100.0/31', '2001:db8:1::/127'] });
const t = (created: string) => `2026-01-01T00:00:${created}Z`;

describe('allocator: table', () => {
  const cases: { name: string; pools: ReturnType<typeof pool>[]; services: V1Service[]; ns?: Record<string, Record<string, string>>; want: Record<string, string> }[] = [
    { name: 'lowest free address, oldest first', pools: [p4], services: [svc('b', { created: t('02') }), svc('a', { created: t('01') })], want: { a: '192.0.2.0', b: '192.0.2.1' } },
    { name: 'keeps current status addresses (rebuild)', pools: [p4], services: [svc('a', { status: ['192.0.2.3'] }), svc('b')], want: { a: '192.0.2.3', b: '192.0.2.0' } },
    { name: 'pool exhausted', pools: [pool('one', { ranges: [{ start: '192.0.2.9', end: '192.0.2.9' }] })], services: [svc('a', { created: t('01') }), svc('b', { created: t('02') })], want: { a: '192.0.2.9', b: '!poolExhausted' } },
    { name: 'spec.loadBalancerIP honoured', pools: [p4], services: [svc('a', { lbIP: '192.0.2.2' }), svc('b')], want: { a: '192.0.2.2', b: '192.0.2.0' } },
    { name: 'requested IP in use', pools: [p4], services: [svc('a', { status: ['192.0.2.1'], created: t('01') }), svc('b', { lbIP: '192.0.2.1', created: t('02') })], want: { a: '192.0.2.1', b: '!requestedIPInUse' } },
    { name: 'requested IP not in any pool', pools: [p4], services: [svc('a', { lbIP: '203.0.113.1' })], want: { a: '!requestedIPNotInPool' } },
    { name: 'annotation list, dual-stack', pools: [p4, p6], services: [svc('a', { ips: '2001:db8::2, 192.0.2.3', families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' })], want: { a: '192.0.2.3,2001:db8::2' } },
    { name: 'both loadBalancerIP and annotation → invalid', pools: [p4], services: [svc('a', { lbIP: '192.0.2.1', ips: '192.0.2.1' })], want: { a: '!invalidRequest' } },
    { name: 'unparseable requested IP → invalid', pools: [p4], services: [svc('a', { ips: '192.0.2.999' })], want: { a: '!invalidRequest' } },
    { name: 'requested family not in ipFamilies → invalid', pools: [p4, p6], services: [svc('a', { ips: '2001:db8::1' })], want: { a: '!invalidRequest' } },
    { name: 'invalid Service keeps its address reserved', pools: [p4], services: [svc('a', { ips: 'x', status: ['192.0.2.0'], created: t('01') }), svc('b', { created: t('02') })], want: { a: '!invalidRequest 192.0.2.0', b: '192.0.2.1' } },
    { name: 'pool by annotation', pools: [p4, pool('other', { cidrs: ['203.0.113.0/24'], autoAssign: false })], services: [svc('a', { pool: 'other' }), svc('b')], want: { a: '203.0.113.0', b: '192.0.2.0' } },
    { name: 'unknown pool annotation', pools: [p4], services: [svc('a', { pool: 'nope' })], want: { a: '!noMatchingPool' } },
    { name: 'autoAssign false pools are not used unasked', pools: [pool('manual', { cidrs: ['192.0.2.0/30'], autoAssign: false })], services: [svc('a')], want: { a: '!noMatchingPool' } },
    { name: 'autoAssign false pools serve requested IPs', pools: [pool('manual', { cidrs: ['192.0.2.0/30'], autoAssign: false })], services: [svc('a', { lbIP: '192.0.2.1' })], want: { a: '192.0.2.1' } },
    { name: 'priority orders pools', pools: [pool('z', { cidrs: ['192.0.2.0/30'], serviceAllocation: { priority: 1 } }), pool('a', { cidrs: ['203.0.113.0/30'], serviceAllocation: { priority: 5 } })], services: [svc('s')], want: { s: '192.0.2.0' } },
    { name: 'namespace list', pools: [pool('team', { cidrs: ['203.0.113.0/30'], serviceAllocation: { namespaces: ['team'], priority: 0 } }), p4], services: [svc('x', { ns: 'team' }), svc('y')], want: { 'team/x': '203.0.113.0', y: '192.0.2.0' } },
    { name: 'namespace selector', pools: [pool('prod', { cidrs: ['203.0.113.0/30'], serviceAllocation: { namespaceSelector: { matchLabels: { env: 'prod' } } } })], services: [svc('x', { ns: 'p' }), svc('y', { ns: 'd' })], ns: { p: { env: 'prod' }, d: { env: 'dev' } }, want: { 'p/x': '203.0.113.0', 'd/y': '!noMatchingPool' } },
    { name: 'service selector (matchExpressions)', pools: [pool('edge', { cidrs: ['203.0.113.0/30'], serviceAllocation: { serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge'] }] } } })], services: [svc('x', { labels: { tier: 'edge' } }), svc('y')], want: { x: '203.0.113.0', y: '!noMatchingPool' } },
    { name: 'sharing: same key, different ports', pools: [p4], services: [svc('a', { share: 'k', ports: [[80]], created: t('01') }), svc('b', { share: 'k', ports: [[443]], created: t('02') })], want: { a: '192.0.2.0', b: '192.0.2.0' } },
    { name: 'sharing: TCP and UDP on one port', pools: [p4], services: [svc('a', { share: 'k', ports: [[53, 'TCP']], created: t('01') }), svc('b', { share: 'k', ports: [[53, 'UDP']], created: t('02') })], want: { a: '192.0.2.0', b: '192.0.2.0' } },
    { name: 'sharing: port clash → separate IPs', pools: [p4], services: [svc('a', { share: 'k', ports: [[80]], created: t('01') }), svc('b', { share: 'k', ports: [[80]], created: t('02') })], want: { a: '192.0.2.0', b: '192.0.2.1' } },
    { name: 'sharing: different keys → separate IPs', pools: [p4], services: [svc('a', { share: 'k', created: t('01') }), svc('b', { share: 'j', ports: [[81]], created: t('02') })], want: { a: '192.0.2.0', b: '192.0.2.1' } },
    { name: 'sharing: different externalTrafficPolicy', pools: [p4], services: [svc('a', { share: 'k', created: t('01') }), svc('b', { share: 'k', ports: [[81]], etp: 'Local', created: t('02') })], want: { a: '192.0.2.0', b: '192.0.2.1' } },
    { name: 'sharing: requested shared IP', pools: [p4], services: [svc('a', { share: 'k', lbIP: '192.0.2.2', created: t('01') }), svc('b', { share: 'k', ports: [[81]], lbIP: '192.0.2.2', created: t('02') })], want: { a: '192.0.2.2', b: '192.0.2.2' } },
    { name: 'two holders of one IP without a key: the older keeps it', pools: [p4], services: [svc('new', { status: ['192.0.2.0'], created: t('05') }), svc('old', { status: ['192.0.2.0'], created: t('01') })], want: { old: '192.0.2.0', new: '192.0.2.1' } },
    { name: 'status outside every pool is replaced', pools: [p4], services: [svc('a', { status: ['203.0.113.7'] })], want: { a: '192.0.2.0' } },
    { name: 'avoidBuggyIPs skips .0 and .255', pools: [pool('b', { cidrs: ['192.0.2.0/24'], avoidBuggyIPs: true })], services: [svc('a')], want: { a: '192.0.2.1' } },
    { name: 'RequireDualStack from one pool', pools: [p4, dual], services: [svc('a', { families: ['IPv6', 'IPv4'], policy: 'RequireDualStack' })], want: { a: '2001:db8:1::,198.51.100.0' } },
    { name: 'PreferDualStack takes what the pool has', pools: [p4], services: [svc('a', { families: ['IPv4', 'IPv6'], policy: 'PreferDualStack' })], want: { a: '192.0.2.0' } },
    { name: 'IPv6 only, no v6 pool → noMatchingPool', pools: [p4], services: [svc('a', { families: ['IPv6'] })], want: { a: '!noMatchingPool' } },
    { name: 'dual-stack completes a kept address', pools: [dual], services: [svc('a', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack', status: ['198.51.100.1'] })], want: { a: '198.51.100.1,2001:db8:1::' } },
    { name: 'no longer a LoadBalancer: cleared', pools: [p4], services: [svc('a', { type: 'ClusterIP', status: ['192.0.2.0'] })], want: { a: '' } },
    { name: 'another class: untouched and its IP reserved', pools: [p4], services: [svc('a', { cls: 'other.io/lb', status: ['192.0.2.0'] }), svc('b')], want: { b: '192.0.2.1' } },
    // Tenancy (issue 14 item 2): the older holder (creationTimestamp, then uid) never moves.
    { name: 'sharing: the newer sharer blanks its key → the older keeps the IP, the newer keeps it frozen', pools: [p4], services: [svc('a', { share: 'k', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: ' ', ports: [[443]], status: ['192.0.2.2'], created: t('02') })], want: { a: '192.0.2.2', b: '!invalidRequest 192.0.2.2' } },
    { name: 'sharing: the older sharer blanks its key → nobody moves', pools: [p4], services: [svc('a', { share: '', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: 'k', ports: [[443]], status: ['192.0.2.2'], created: t('02') })], want: { a: '!invalidRequest 192.0.2.2', b: '192.0.2.2' } },
    { name: 'sharing: an invalid Service beside a holder without a key loses the IP, the holder stays', pools: [p4], services: [svc('a', { status: ['192.0.2.2'], created: t('01') }), svc('b', { share: '', ports: [[443]], status: ['192.0.2.2'], created: t('02') })], want: { a: '192.0.2.2', b: '!invalidRequest' } },
    { name: 'sharing: nobody new joins an invalid Service\'s IP', pools: [pool('one', { ranges: [{ start: '192.0.2.2', end: '192.0.2.2' }] })], services: [svc('a', { share: '', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: 'k', ports: [[443]], lbIP: '192.0.2.2', created: t('02') })], want: { a: '!invalidRequest 192.0.2.2', b: '!requestedIPInUse' } },
    { name: 'sharing: the newer changes its key → the newer moves', pools: [p4], services: [svc('a', { share: 'k', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: 'j', ports: [[443]], status: ['192.0.2.2'], created: t('02') })], want: { a: '192.0.2.2', b: '192.0.2.0' } },
    { name: 'sharing: the newer changes its ports to clash → the newer moves', pools: [p4], services: [svc('a', { share: 'k', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: 'k', ports: [[80]], status: ['192.0.2.2'], created: t('02') })], want: { a: '192.0.2.2', b: '192.0.2.0' } },
    { name: 'sharing: same timestamp → the smaller uid is older', pools: [p4], services: [svc('a', { share: 'k', status: ['192.0.2.2'], uid: 'bbb' }), svc('b', { share: 'k', status: ['192.0.2.2'], uid: 'aaa' })], want: { a: '192.0.2.0', b: '192.0.2.2' } },
    { name: 'sharing: across namespaces off by default', pools: [p4], services: [svc('a', { ns: 'x', share: 'k', created: t('01') }), svc('b', { ns: 'y', share: 'k', ports: [[443]], created: t('02') })], want: { 'x/a': '192.0.2.0', 'y/b': '192.0.2.1' } },
    { name: 'sharing: across namespaces off → an existing cross-namespace share ends for the newer', pools: [p4], services: [svc('a', { ns: 'x', share: 'k', status: ['192.0.2.3'], created: t('01') }), svc('b', { ns: 'y', share: 'k', ports: [[443]], status: ['192.0.2.3'], created: t('02') })], want: { 'x/a': '192.0.2.3', 'y/b': '192.0.2.0' } },
    { name: 'sharing: across namespaces when the pool allows it', pools: [pool('open', { cidrs: ['192.0.2.0/30'], serviceAllocation: { allowSharingAcrossNamespaces: true } })], services: [svc('a', { ns: 'x', share: 'k', created: t('01') }), svc('b', { ns: 'y', share: 'k', ports: [[443]], created: t('02') })], want: { 'x/a': '192.0.2.0', 'y/b': '192.0.2.0' } },
    // Issue 14 item 3: of two overlapping pools the newer is refused, so the older owns every address.
    { name: 'overlapping pools: the newer is not used', pools: [{ ...pool('wide', { cidrs: ['192.0.2.0/24'], serviceAllocation: { priority: 0 } }), metadata: { name: 'wide', creationTimestamp: t('09') as unknown as Date } }, { ...p4, metadata: { name: 'p4', creationTimestamp: t('01') as unknown as Date } }], services: [svc('a'), svc('b', { lbIP: '192.0.2.200' })], want: { a: '192.0.2.0', b: '!requestedIPNotInPool' } },
    { name: 'requested IP changed: moves', pools: [p4], services: [svc('a', { lbIP: '192.0.2.3', status: ['192.0.2.0'] })], want: { a: '192.0.2.3' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = run(c.pools, c.services, c.ns);
      assert.deepEqual(summary(r), c.want);
      // A second pass over the written result changes nothing.
      const written = c.services.map((s) => {
        const a = r.services.find((x) => x.key === `${s.metadata?.namespace}/${s.metadata?.name}`);
        return a ? { ...s, status: { loadBalancer: { ingress: a.ips.map((ip) => ({ ip })) } } } : s;
      });
      const again = run(c.pools, written, c.ns);
      const present = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== ''));
      assert.deepEqual(present(summary(again)), present(c.want));
      assert.deepEqual(again.services.filter((x) => x.changed).map((x) => x.key), []);
    });
  }
});

describe('allocator: who loses says why', () => {
  it('the newer sharer that lost its address gets the reason, naming the older holder', () => {
    const r = run([p4], [svc('a', { share: 'k', status: ['192.0.2.2'], created: t('01') }), svc('b', { share: 'k', ports: [[80]], status: ['192.0.2.2'], created: t('02') })]);
    const b = r.services.find((x) => x.key === 'default/b');
    assert.match(b?.lost?.[0] ?? '', /^lost 192\.0\.2\.2: default\/a holds it and serves TCP\/80 there too and is older/);
    assert.equal(r.services.find((x) => x.key === 'default/a')?.lost, undefined);
  });
  it('pool accounting is exact: overlapping pools cannot count one address twice or in the wrong pool', () => {
    const wide = { ...pool('aaa-wide', { cidrs: ['192.0.2.0/24'], serviceAllocation: { priority: 0 } }), metadata: { name: 'aaa-wide', creationTimestamp: t('09') as unknown as Date } };
    const real = { ...pool('real', { cidrs: ['192.0.2.0/28'] }), metadata: { name: 'real', creationTimestamp: t('01') as unknown as Date } };
    const r = run([wide, real], [svc('a', { created: t('01') }), svc('b', { created: t('02') })]);
    assert.deepEqual(r.usage.get('real'), { IPv4: 2, IPv6: 0, free: '14' });
    assert.equal(r.usage.get('aaa-wide'), undefined);
  });
});

describe('pools', () => {
  it('parses and sizes a pool, honouring avoidBuggyIPs', () => {
    const r = parsePool(pool('x', { cidrs: ['192.0.2.0/24', '2001:db8::/120'], ranges: [{ start: '198.51.100.250', end: '198.51.101.5' }], avoidBuggyIPs: true }));
    assert.ok(r.ok);
    const size = poolSize(r.pool);
    assert.equal(size.IPv4, 254n + (12n - 2n)); // .250-.254 + .1-.5 (skipping .255 and .0)
    assert.equal(size.IPv6, 256n);
  });
  const bad: [string, object, RegExp][] = [
    ['empty', {}, /no cidrs or ranges/],
    ['bad CIDR', { cidrs: ['192.0.2.0/33'] }, /spec\.cidrs\[0\]/],
    ['host bits', { cidrs: ['192.0.2.1/24'] }, /host bits/],
    ['reversed range', { ranges: [{ start: '192.0.2.9', end: '192.0.2.1' }] }, /after end/],
    ['mixed range', { ranges: [{ start: '192.0.2.1', end: '2001:db8::1' }] }, /different families/],
  ];
  for (const [name, spec, re] of bad) {
    it(`rejects ${name}`, () => {
      const r = parsePool(pool('x', spec));
      assert.ok(!r.ok);
      assert.match(r.reason, re);
    });
  }
  it('usage counts used and free per pool', () => {
    const r = run([p4], [svc('a', { share: 'k', created: t('01') }), svc('b', { share: 'k', ports: [[1]], created: t('02') }), svc('c', { created: t('03') })]);
    assert.deepEqual(r.usage.get('p4'), { IPv4: 2, IPv6: 0, free: '2' });
  });
  it('service request: ignores other types and classes', () => {
    assert.equal(serviceRequest(svc('a', { type: 'NodePort' }), cfg).kind, 'ignore');
    assert.equal(serviceRequest(svc('a', { cls: 'x.io/y' }), cfg).kind, 'ignore');
    assert.equal(serviceRequest(svc('a', { cls: 'bgpvs.io/bgpvs' }), cfg).kind, 'request');
  });
});

/** The invariants, over random Services and repeated passes that write their results back. */
describe('allocator: properties', () => {
  const ipsIn = ['192.0.2.0', '192.0.2.1', '192.0.2.2', '192.0.2.3', '203.0.113.1', '2001:db8::1'];
  const arbSvc = fc.record({
    share: fc.option(fc.constantFrom('k', 'j'), { nil: undefined }),
    port: fc.constantFrom(80, 443, 53),
    lbIP: fc.option(fc.constantFrom(...ipsIn), { freq: 4, nil: undefined }),
    status: fc.option(fc.constantFrom(...ipsIn), { freq: 2, nil: undefined }),
    v6: fc.boolean(),
  });
  it('never two Services on one IP unless shared by key without port clash; a second pass is stable; nothing outside pools', () => {
    fc.assert(
      fc.property(fc.array(arbSvc, { maxLength: 10 }), (specs) => {
        const pools = [pool('p4', { cidrs: ['192.0.2.0/30'] }), pool('p6', { cidrs: ['2001:db8::/126'] })];
        const services = specs.map((s, i) =>
          svc(`s${i}`, { share: s.share, ports: [[s.port]], lbIP: s.lbIP, status: s.status ? [s.status] : [], families: s.v6 ? ['IPv4', 'IPv6'] : ['IPv4'], policy: s.v6 ? 'PreferDualStack' : 'SingleStack', created: t(String(10 + i)) }),
        );
        const r = run(pools, services);
        const holders = new Map<string, { share: string | undefined; port: number }[]>();
        // An invalid Service keeps what it holds where that evicts no one, and nobody new gets it
        // (a Service that already shared it with a sharing key keeps it).
        const frozen = new Set(r.services.filter((a) => a.failure?.reason === 'invalidRequest').flatMap((a) => a.ips));
        for (const a of r.services) {
          if (a.failure?.reason === 'invalidRequest') continue;
          const i = Number(a.key.slice('default/s'.length));
          const s = specs[i]!;
          if (a.failure) assert.ok(['poolExhausted', 'requestedIPInUse', 'requestedIPNotInPool', 'invalidRequest', 'noMatchingPool'].includes(a.failure.reason));
          for (const ip of a.ips) {
            assert.ok(!frozen.has(ip) || (s.status === ip && s.share !== undefined), `${ip} held by an invalid Service was handed out`);
            assert.ok(/^192\.0\.2\.[0-3]$|^2001:db8::[0-3]?$/.test(ip), `${ip} outside pools`);
            const list = holders.get(ip) ?? [];
            for (const h of list) {
              assert.ok(h.share !== undefined && h.share === s.share && h.port !== s.port, `${ip} shared illegally`);
            }
            list.push({ share: s.share, port: s.port });
            holders.set(ip, list);
          }
          if (s.lbIP && !a.failure) assert.ok(a.ips.includes(s.lbIP));
        }
        const written = services.map((s, i) => ({ ...s, status: { loadBalancer: { ingress: (r.services.find((x) => x.key === `default/s${i}`)?.ips ?? []).map((ip) => ({ ip })) } } }));
        const again = run(pools, written);
        assert.deepEqual(again.services.filter((x) => x.changed && !x.failure).map((x) => x.key), []);
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});
