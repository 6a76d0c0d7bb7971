/** IPVS diff + render: golden batches, managed-VIP ownership, draining with an injected clock, idempotence (table + fast-check). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { diffIpvs, type IpvsOp } from '../../src/dataplane/ipvs/diff.js';
import { renderIpvsBatch } from '../../src/dataplane/ipvs/render.js';
import { parseIpvsadmSave, serviceKeyString, type ActualVirtualServer, type IpvsTableState } from '../../src/dataplane/ipvs/parse.js';
import type { ForwardingMethod, RealServer, VirtualServer } from '../../src/model/types.js';

const goldenPath = (f: string) => new URL(`./golden/${f}`, import.meta.url);
function golden(name: string, text: string) {
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenPath(name), text);
  assert.equal(text, readFileSync(goldenPath(name), 'utf8'), name);
}

const vs = (vip: string, port: number, forwarding: ForwardingMethod, reals: Array<[string, number, number]>, extra: Partial<VirtualServer> = {}): VirtualServer => ({
  vip,
  port,
  protocol: 'TCP',
  family: vip.includes(':') ? 'IPv6' : 'IPv4',
  scheduler: 'mh',
  schedulerFlags: ['mh-fallback', 'mh-port'],
  persistenceSeconds: 0,
  forwarding,
  realServers: reals.map(([address, p, weight]): RealServer => ({ address, port: p, weight })),
  services: ['default/web'],
  ...extra,
});

/**
 * A fake kernel table: applies ops with IPVS's rules (adding what exists or touching what does
 * not fails; with DR/tunnel the kernel stores the service port for the real server).
 */
function apply(state: IpvsTableState, ops: readonly IpvsOp[]): IpvsTableState {
  const services = new Map<string, ActualVirtualServer>(state.services.map((s) => [serviceKeyString(s), { ...s, realServers: [...s.realServers] }]));
  for (const op0 of ops) {
    const op = (op0.kind === 'add-real' || op0.kind === 'edit-real') && op0.real.forwarding !== 'nat' ? { ...op0, real: { ...op0.real, port: op0.service.port } } : op0;
    const k = serviceKeyString(op.service);
    const cur = services.get(k);
    switch (op.kind) {
      case 'add-service':
        assert.ok(!cur, `-A of existing ${k}`);
        services.set(k, { ...op.service, family: op.service.vip.includes(':') ? 'IPv6' : 'IPv4', forwarding: 'dr', realServers: [], services: [] });
        break;
      case 'edit-service':
        assert.ok(cur, `-E of missing ${k}`);
        services.set(k, { ...cur, ...op.service });
        break;
      case 'delete-service':
        assert.ok(cur, `-D of missing ${k}`);
        services.delete(k);
        break;
      case 'add-real':
        assert.ok(cur && !cur.realServers.some((r) => r.address === op.real.address && r.port === op.real.port), `-a bad ${k}`);
        cur.realServers = [...cur.realServers, { ...op.real }];
        break;
      case 'edit-real': {
        assert.ok(cur, `-e missing ${k}`);
        const i = cur.realServers.findIndex((r) => r.address === op.real.address && r.port === op.real.port);
        assert.ok(i >= 0, `-e of missing real in ${k}`);
        cur.realServers = cur.realServers.map((r, j) => (j === i ? { ...op.real } : r));
        break;
      }
      case 'delete-real':
        assert.ok(cur, `-d missing ${k}`);
        assert.ok(cur.realServers.some((r) => r.address === op.real.address && r.port === op.real.port), `-d of missing real in ${k}`);
        cur.realServers = cur.realServers.filter((r) => !(r.address === op.real.address && r.port === op.real.port));
        break;
    }
  }
  const out = [...services.values()].map((s) => ({ ...s, forwarding: s.realServers[0]?.forwarding ?? 'dr' }));
  return { services: out, foreign: state.foreign };
}

const managed = new Set(['192.0.2.10', '192.0.2.11', '2001:db8::10']);
const base = { managedVips: managed, nowMs: 1_000_000, graceMs: 30_000 };
// The foreign services: kube-proxy's ClusterIP and an fwmark service; never touched.
const foreignSave = '-A -t 10.96.0.10:53 -s rr\n-a -t 10.96.0.10:53 -r 10.244.0.5:53 -m -w 1\n-A -f 7 -s rr\n';

test('diff: empty table → add services and reals (golden), foreign untouched, second pass zero ops', () => {
  const desired = [
    vs('192.0.2.10', 80, 'tunnel', [['10.244.1.2', 8080, 1], ['10.244.2.3', 8080, 1]]),
    vs('192.0.2.11', 443, 'dr', [['10.0.1.5', 443, 2]], { scheduler: 'wlc', schedulerFlags: [], persistenceSeconds: 300 }),
    vs('2001:db8::10', 80, 'nat', [['fd00::5', 8080, 1]], { protocol: 'UDP', schedulerFlags: ['mh-port'] }),
    vs('198.51.100.1', 80, 'dr', [['10.0.1.5', 80, 1]]), // VIP not managed: ignored
  ];
  const actual = parseIpvsadmSave(foreignSave);
  const { ops } = diffIpvs({ ...base, desired, actual });
  golden('ipvs-initial.txt', renderIpvsBatch(ops));
  const after = apply(actual, ops);
  assert.ok(after.services.some((s) => s.vip === '10.96.0.10'));
  assert.deepEqual(diffIpvs({ ...base, desired, actual: after }).ops, []);
});

test('diff: edits (scheduler, weight, forwarding) and a deleted service (golden)', () => {
  const actual = parseIpvsadmSave(
    foreignSave +
      '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.244.1.2:80 -i -w 1 --tun-type ipip\n-a -t 192.0.2.10:80 -r 10.244.2.3:80 -g -w 1\n' +
      '-A -t 192.0.2.11:443 -s rr\n-a -t 192.0.2.11:443 -r 10.0.1.5:443 -g -w 1\n',
  );
  const desired = [vs('192.0.2.10', 80, 'tunnel', [['10.244.1.2', 8080, 5], ['10.244.2.3', 8080, 1]])];
  const { ops } = diffIpvs({ ...base, desired, actual });
  golden('ipvs-edit.txt', renderIpvsBatch(ops));
  assert.deepEqual(diffIpvs({ ...base, desired, actual: apply(actual, ops) }).ops, []);
});

test('diff: a removed endpoint with connections drains (weight 0), then is removed on zero conns or grace expiry', () => {
  const actual0 = parseIpvsadmSave('-A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port\n-a -t 192.0.2.10:80 -r 10.244.1.2:80 -i -w 1\n-a -t 192.0.2.10:80 -r 10.244.2.3:80 -i -w 1\n');
  const desired = [vs('192.0.2.10', 80, 'tunnel', [['10.244.1.2', 8080, 1]])];
  const rk = 'TCP/192.0.2.10/80>10.244.2.3/80';
  const busy = new Map([[rk, { active: 2, inactive: 1 }]]);
  const p1 = diffIpvs({ ...base, desired, actual: actual0, conns: busy });
  golden('ipvs-drain.txt', renderIpvsBatch(p1.ops));
  assert.equal(p1.draining, 1);
  assert.deepEqual([...p1.drainingSince], [[rk, base.nowMs]]);
  const actual1 = apply(actual0, p1.ops);
  // still busy, inside grace: nothing to do (idempotent while draining)
  const p2 = diffIpvs({ ...base, nowMs: base.nowMs + 10_000, desired, actual: actual1, conns: busy, drainingSince: p1.drainingSince });
  assert.deepEqual(p2.ops, []);
  assert.equal(p2.drainingSince.get(rk), base.nowMs);
  // grace passed → removed even though connections remain
  const p3 = diffIpvs({ ...base, nowMs: base.nowMs + 30_000, desired, actual: actual1, conns: busy, drainingSince: p2.drainingSince });
  assert.deepEqual(p3.ops.map((o) => [o.kind, 'reason' in o ? o.reason : '']), [['delete-real', 'grace-expired']]);
  // connections ended → removed at once
  const p4 = diffIpvs({ ...base, nowMs: base.nowMs + 5_000, desired, actual: actual1, conns: new Map(), drainingSince: p1.drainingSince });
  assert.deepEqual(p4.ops.map((o) => [o.kind, 'reason' in o ? o.reason : '']), [['delete-real', 'drained']]);
  assert.equal(p4.drainingSince.size, 0);
  assert.deepEqual(diffIpvs({ ...base, desired, actual: apply(actual1, p4.ops) }).ops, []);
});

test('diff: DR/tunnel real servers take the service port (as the kernel stores them); NAT keeps its own', () => {
  const desired = [vs('192.0.2.10', 80, 'tunnel', [['10.0.0.1', 8080, 1], ['10.0.0.1', 9090, 1]]), vs('192.0.2.11', 80, 'nat', [['10.0.0.1', 8080, 1]])];
  const actual = parseIpvsadmSave('');
  const { ops } = diffIpvs({ ...base, desired, actual });
  assert.equal(renderIpvsBatch(ops), '-A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port\n-A -t 192.0.2.11:80 -s mh -b mh-fallback,mh-port\n-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1\n-a -t 192.0.2.11:80 -r 10.0.0.1:8080 -m -w 1\n');
  assert.deepEqual(diffIpvs({ ...base, desired, actual: apply(actual, ops) }).ops, []);
});

test('diff: a managed key held by an inexpressible service is edited, not re-added; unmanaged ones never appear in ops', () => {
  const actual = parseIpvsadmSave(foreignSave + '-A -t 192.0.2.10:80 -s dh\n-A -t 203.0.113.9:80 -s dh\n');
  const { ops } = diffIpvs({ ...base, desired: [vs('192.0.2.10', 80, 'dr', [['10.0.0.1', 80, 1]])], actual });
  assert.deepEqual(renderIpvsBatch(ops), '-E -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port\n');
  const gone = diffIpvs({ ...base, desired: [], actual }).ops;
  assert.deepEqual(renderIpvsBatch(gone), '-D -t 192.0.2.10:80\n');
});

test('property: for any desired set and any starting table, apply(diff) then diff again yields zero ops; unmanaged services survive', () => {
  const ip = fc.constantFrom('192.0.2.10', '192.0.2.11', '2001:db8::10', '198.51.100.7');
  const real = fc.tuple(fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', 'fd00::1'), fc.constantFrom(80, 8080), fc.integer({ min: 0, max: 3 }));
  const vsArb = fc.record({
    vip: ip,
    port: fc.constantFrom(80, 443),
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
    fwd: fc.constantFrom<ForwardingMethod>('dr', 'tunnel', 'nat'),
    sched: fc.constantFrom('rr' as const, 'mh' as const, 'wlc' as const),
    p: fc.constantFrom(0, 300),
    reals: fc.array(real, { maxLength: 4 }),
  }).map((r) => vs(r.vip, r.port, r.fwd, r.reals, { protocol: r.protocol, scheduler: r.sched, schedulerFlags: r.sched === 'mh' ? ['mh-port'] : [], persistenceSeconds: r.p }));
  fc.assert(
    fc.property(fc.array(vsArb, { maxLength: 6 }), fc.array(vsArb, { maxLength: 6 }), fc.boolean(), (start, desired, busy) => {
      // build the start table from a different desired set (all VIPs managed), plus foreign ones
      const everything = new Set([...managed, '198.51.100.7']);
      const actual0 = apply(parseIpvsadmSave(foreignSave), diffIpvs({ ...base, managedVips: everything, desired: start, actual: parseIpvsadmSave(foreignSave) }).ops);
      const conns = new Map<string, { active: number; inactive: number }>();
      if (busy) for (const s of actual0.services) for (const r of s.realServers) conns.set(`${serviceKeyString(s)}>${r.address}/${r.port}`, { active: 1, inactive: 0 });
      const d1 = diffIpvs({ ...base, desired, actual: actual0, conns });
      for (const op of d1.ops) assert.ok(managed.has(op.service.vip), 'op on an unmanaged VIP');
      const actual1 = apply(actual0, d1.ops);
      const d2 = diffIpvs({ ...base, desired, actual: actual1, conns, drainingSince: d1.drainingSince });
      assert.deepEqual(d2.ops, []);
      for (const s of actual0.services) if (!managed.has(s.vip)) assert.ok(actual1.services.some((x) => serviceKeyString(x) === serviceKeyString(s)));
    }),
    { numRuns: 300 },
  );
});
