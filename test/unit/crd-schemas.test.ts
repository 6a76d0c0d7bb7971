/**
 * One shape per object: the CRD YAML is the definition, src/model/crd-schemas.generated.ts
 * carries it into the agent, and the agent's checks (static peers, BGPPeer objects, IPPools)
 * answer the admission cases of test/rig/crd-cases.ts as the API server does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GENERATED_PATH, renderCrdSchemas } from '../../scripts/gen-crd-schemas.js';
import { BGPPEER_SPEC_SCHEMA, IPPOOL_SPEC_SCHEMA } from '../../src/model/crd-schemas.generated.js';
import { checkSpec, fieldPath } from '../../src/model/crd-schema.js';
import { peerFromSpec } from '../../src/config/peer.js';
import { parsePool } from '../../src/ipam/pools.js';
import { ConfigError } from '../../src/errors.js';
import { BAD_PEERS, BAD_POOLS, UNREADY_POOLS, type CrdCase } from '../rig/crd-cases.js';
import { communityToNumber } from '../../src/bgp/paths.js';

const root = new URL('../..', import.meta.url).pathname;

test('crd schemas: the generated module is what daemonset/crds/*.yaml say (else: node --import tsx scripts/gen-crd-schemas.ts)', () => {
  assert.equal(readFileSync(`${root}/${GENERATED_PATH}`, 'utf8'), renderCrdSchemas());
});

for (const c of BAD_PEERS) {
  test(`crd schemas: a BGPPeer spec with ${c.name} is refused naming the field`, () => {
    assert.throws(() => peerFromSpec('spec', c.spec), (e: unknown) => e instanceof ConfigError && c.local.test(e.message));
  });
}
for (const c of BAD_POOLS) {
  test(`crd schemas: an IPPool spec with ${c.name} is refused naming the field`, () => {
    const r = parsePool({ metadata: { name: 'p' }, spec: c.spec as never });
    assert.ok(!r.ok, 'accepted');
    assert.match(r.reason, c.local);
  });
}

/** Every CEL rule message in a schema. */
function celMessages(s: unknown, out: string[] = []): string[] {
  if (Array.isArray(s)) s.forEach((x) => celMessages(x, out));
  else if (s && typeof s === 'object') {
    for (const [k, v] of Object.entries(s)) {
      if (k === 'x-kubernetes-validations') out.push(...(v as { message: string }[]).map((r) => r.message));
      else celMessages(v, out);
    }
  }
  return out;
}

test('crd schemas: every CEL rule (which ajv does not run) has a case the agent refuses too', () => {
  const covered = (cases: CrdCase[]) => new Set(cases.map((c) => c.cel));
  for (const [kind, schema, cases] of [['BGPPeer', BGPPEER_SPEC_SCHEMA, BAD_PEERS], ['IPPool', IPPOOL_SPEC_SCHEMA, BAD_POOLS]] as const) {
    const missing = celMessages(schema).filter((m) => !covered(cases).has(m));
    assert.deepEqual(missing, [], `${kind}: CEL rules without a case in test/rig/crd-cases.ts`);
  }
});

test('crd schemas: defaults are filled in as the API server would, on a copy', () => {
  const raw = { address: '192.0.2.1', asn: 65001, bfd: {}, passwordSecretRef: { name: 's', namespace: 'n' } };
  const s = checkSpec('BGPPeer', 'spec', raw);
  assert.deepEqual([s.port, s.bfd?.enabled, s.passwordSecretRef?.key], [179, true, 'password']);
  assert.deepEqual(raw.bfd, {}, 'the input is not changed');
  const pool = checkSpec('IPPool', 'spec', { cidrs: ['192.0.2.0/24'], bgp: {} });
  assert.deepEqual([pool.autoAssign, pool.avoidBuggyIPs, pool.bgp?.weightedEcmp], [true, false, true]);
});

test('crd schemas: a static peer is exactly a BGPPeer spec', () => {
  const spec = {
    address: '2001:DB8::1', asn: 65001, port: 1179, holdTimeSeconds: 9, keepaliveSeconds: 3,
    bfd: { minRxMs: 100, minTxMs: 200, multiplier: 5 }, passwordSecretRef: { name: 's', namespace: 'n', key: 'k' },
    gracefulRestart: { enabled: true, restartTimeSeconds: 90 }, families: ['ipv6-unicast'], ebgpMultihop: 2, sourceAddress: '2001:db8::2',
    nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['a'] }] },
  };
  assert.deepEqual(peerFromSpec('--bgp.peers[0]', spec), {
    address: '2001:db8::1', asn: 65001, port: 1179, holdTimeSeconds: 9, keepaliveSeconds: 3,
    bfd: { minRxMs: 100, minTxMs: 200, multiplier: 5 }, passwordSecret: { namespace: 'n', name: 's', key: 'k' },
    gracefulRestart: { restartTimeSeconds: 90, helperOnly: true }, families: ['IPv6'], ebgpMultihop: 2, sourceAddress: '2001:db8::2',
    nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['a'] }] },
  });
  assert.equal(peerFromSpec('spec', { address: '192.0.2.1', asn: 1, bfd: { enabled: false } }).bfd, undefined);
  assert.throws(() => peerFromSpec('--bgp.peers[0]', { address: '192.0.2.1', asn: 1, bfd: { minRx: '100ms' } }), /^ConfigError: --bgp\.peers\[0\]\.bfd\.minRx: unknown field/);
  assert.throws(() => peerFromSpec('spec', { address: '192.0.2.1', asn: 1, localASN: 2 }), /^ConfigError: spec\.localASN: not supported yet/);
  assert.throws(() => peerFromSpec('spec', undefined), /^ConfigError: spec: must be a mapping/);
});

test('crd schemas: field paths from ajv name list items and odd keys', () => {
  assert.equal(fieldPath('/bfd/minRxMs'), '.bfd.minRxMs');
  assert.equal(fieldPath('/families/1'), '.families[1]');
  assert.equal(fieldPath('/nodeSelector/matchLabels/topology.example.com~1rack'), '.nodeSelector.matchLabels["topology.example.com/rack"]');
  assert.equal(fieldPath(''), '');
});

for (const c of UNREADY_POOLS) {
  test(`crd schemas: an IPPool with ${c.name} passes admission but the agent refuses it (Ready=False)`, () => {
    assert.doesNotThrow(() => checkSpec('IPPool', 'spec', c.spec));
    const r = parsePool({ metadata: { name: 'p' }, spec: c.spec as never });
    assert.ok(!r.ok, 'accepted');
    assert.match(r.reason, c.local);
  });
}

test('crd schemas: well-known community names become the values the speaker sends', () => {
  const r = parsePool({ metadata: { name: 'p' }, spec: { cidrs: ['192.0.2.0/24'], bgp: { communities: ['no-export', 'blackhole', '65000:0100', 'graceful-shutdown', 'no-advertise', 'no-peer'] } } });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.pool.bgp.communities, ['65535:65281', '65535:666', '65000:100', '65535:0', '65535:65282', '65535:65284']);
  for (const c of r.pool.bgp.communities) assert.notEqual(communityToNumber(c), undefined, `${c} cannot be sent`);
});
