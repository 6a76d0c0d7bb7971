import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderNft, vsName, type MaglevFn } from '../../src/dataplane/nft/render.js';
import { fixtureDr, fixtureVs } from './nft-fixtures.js';

const golden = (n: string): URL => new URL(`./golden/${n}`, import.meta.url);
const update = process.env.BGPVS_UPDATE_GOLDEN === '1';

function checkGolden(name: string, text: string): void {
  if (update) writeFileSync(golden(name), text);
  assert.equal(text, readFileSync(golden(name), 'utf8'), `golden ${name} (BGPVS_UPDATE_GOLDEN=1 to rewrite)`);
}

test('nft render: NAT + DR + IPv6 + affinity matches the golden script (M=7)', () => {
  const r = renderNft({ virtualServers: fixtureVs, buckets: 7, dr: fixtureDr });
  checkGolden('nft-nat-dr.nft', r.script);
  assert.deepEqual(r.skipped, [{ vip: '10.100.0.30', port: 80, protocol: 'TCP', reason: 'noBackendWithWeight' }]);
});

test('nft render: without a DR context, DR virtual servers are skipped and the netdev table is removed', () => {
  const r = renderNft({ virtualServers: fixtureVs, buckets: 7 });
  checkGolden('nft-nat-only.nft', r.script);
  assert.ok(r.skipped.some((s) => s.vip === '10.100.0.20' && s.reason === 'drWithoutDevice'));
});

test('nft render: deterministic whatever the input order', () => {
  const a = renderNft({ virtualServers: fixtureVs, buckets: 7, dr: fixtureDr }).script;
  const b = renderNft({ virtualServers: [...fixtureVs].reverse(), buckets: 7, dr: fixtureDr }).script;
  assert.equal(a, b);
});

test('nft render: the injected Maglev function decides every bucket; weight-0 backends get none', () => {
  const calls: { id: string; weight: number }[][] = [];
  const fake: MaglevFn = (bs, size) => {
    calls.push(bs);
    return Array.from({ length: size }, (_, i) => i % bs.length);
  };
  const r = renderNft({ virtualServers: [fixtureVs[0]!], buckets: 5, maglev: fake });
  assert.deepEqual(calls, [[{ id: '10.0.0.21:8080', weight: 1 }, { id: '10.0.0.22:8080', weight: 2 }]]);
  const m = r.maps.find((x) => x.name === 'nat4-tcp-10.100.0.10-80');
  assert.deepEqual(m?.elements.map(([, v]) => v), ['10.0.0.21 . 8080', '10.0.0.22 . 8080', '10.0.0.21 . 8080', '10.0.0.22 . 8080', '10.0.0.21 . 8080']);
});

test('nft render: names per VIP:port:proto, IPv6 expanded with dots', () => {
  assert.equal(vsName('nat', { vip: '10.1.2.3', protocol: 'UDP', port: 53 }), 'nat4-udp-10.1.2.3-53');
  assert.equal(vsName('dr', { vip: '2001:db8::1', protocol: 'TCP', port: 80 }), 'dr6-tcp-2001.db8.0.0.0.0.0.1-80');
});
