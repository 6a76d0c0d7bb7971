/** GobgpSpeaker against a small stateful fake of gobgpd's API that enforces its invariants. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/observability/logger.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import type { SpeakerConfig } from '../../src/bgp/config.js';
import { FakeGobgp } from './bgp-fake-gobgp.js';
import { ad } from './advertisement-fixture.js';

const cfg: SpeakerConfig = {
  asn: 65011,
  nextHops: { IPv4: '10.0.0.11', IPv6: 'fd00::11' },
  peers: [{ address: '10.0.0.1', asn: 65000 }],
  exportCidrs: ['10.100.0.0/16'],
};
const mutations = (calls: string[]) => calls.filter((c) => !/^(Get|List)/.test(c));

test('speaker: resync applies global, policies, peers, paths; a second pass changes nothing', async () => {
  const fake = new FakeGobgp();
  const sp = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  await sp.setAdvertisements([ad('10.100.0.1/32'), ad('fd00:100::1/128')]).catch(() => undefined); // not started yet
  await sp.resync();
  assert.equal(fake.global?.router_id, '10.0.0.11');
  assert.equal(fake.global?.listen_port, -1);
  assert.deepEqual([...fake.peers.keys()], ['10.0.0.1']);
  assert.deepEqual([...fake.paths.keys()].sort(), ['AFI_IP6|fd00:100::1/128', 'AFI_IP|10.100.0.1/32']);
  assert.equal(fake.assignments.get('global|POLICY_DIRECTION_IMPORT')?.default_action, 'ROUTE_ACTION_REJECT');

  fake.calls = [];
  await sp.resync();
  const again = await sp.setAdvertisements([ad('10.100.0.1/32'), ad('fd00:100::1/128')]);
  assert.deepEqual([again.added, again.replaced, again.deleted], [0, 0, 0]);
  assert.deepEqual(
    mutations(fake.calls).filter((c) => !['AddDefinedSet', 'SetPolicyAssignment'].includes(c)),
    [],
    'second pass: no path, peer or policy changes',
  );
});

test('speaker: only its own paths and peers are touched', async () => {
  const fake = new FakeGobgp();
  const sp = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  await sp.resync();
  // Somebody else's path and peer in the same gobgpd.
  await fake.addPath({ family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, nlri: { prefix: { prefix: '192.0.2.1', prefix_len: 32 } }, pattrs: [{ next_hop: { next_hop: '10.0.0.11' } }] });
  await fake.addPeer({ conf: { neighbor_address: '10.0.0.99', peer_asn: 1 } });
  await sp.setAdvertisements([ad('10.100.0.1/32')]);
  const r = await sp.setAdvertisements([]);
  assert.equal(r.deleted, 1);
  assert.deepEqual([...fake.paths.keys()], ['AFI_IP|192.0.2.1/32']);
  await sp.resync();
  assert.ok(fake.peers.has('10.0.0.99'), 'foreign peer kept');
});

test('speaker: after gobgpd restarts, resync re-applies everything', async () => {
  const fake = new FakeGobgp();
  const sp = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  await sp.resync();
  await sp.setAdvertisements([ad('10.100.0.1/32'), ad('10.100.0.2/32')]);
  fake.reset();
  const r = await sp.resync();
  assert.equal(r.added, 2);
  assert.equal(fake.peers.size, 1);
  assert.equal(fake.policies.size, 2);
});

test('speaker: a changed peer is replaced; drain re-announces with 65535:0 and local-pref 0', async () => {
  const fake = new FakeGobgp();
  const sp = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  await sp.resync();
  await sp.setAdvertisements([ad('10.100.0.1/32', { communities: ['65000:1'] })]);
  const r = await sp.drain();
  assert.equal(r.replaced, 1);
  const p = [...fake.paths.values()][0]!;
  assert.deepEqual(p.pattrs.find((a) => a.communities)?.communities?.communities.sort(), [65000 * 65536 + 1, 0xffff0000].sort());
  assert.equal(p.pattrs.find((a) => a.local_pref)?.local_pref?.local_pref, 0);
  const w = await sp.withdrawAll();
  assert.equal(w.deleted, 1);
  assert.equal(fake.paths.size, 0);

  const changed = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: { ...cfg, peers: [{ address: '10.0.0.1', asn: 65000, holdTimeSeconds: 9 }] } });
  fake.calls = [];
  await changed.resync();
  assert.deepEqual(mutations(fake.calls).filter((c) => c.endsWith('Peer')), ['DeletePeer', 'AddPeer']);
});

test('speaker: new pools → a new export policy, the assignment switched, the old one removed, peers soft-reset', async () => {
  const fake = new FakeGobgp();
  await new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg }).resync();
  const oldName = fake.assignments.get('global|POLICY_DIRECTION_EXPORT')!.policies[0]!.name;
  fake.peers.get('10.0.0.1')!.state = { neighbor_address: '10.0.0.1', peer_asn: 65000, session_state: 'SESSION_STATE_ESTABLISHED', admin_state: 'ADMIN_STATE_UP' };
  const wider = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: { ...cfg, exportCidrs: ['10.200.0.0/16', 'fd00:100::/64'] } });
  await wider.resync();
  const newName = fake.assignments.get('global|POLICY_DIRECTION_EXPORT')!.policies[0]!.name;
  assert.notEqual(newName, oldName);
  assert.deepEqual([...fake.policies.keys()].sort(), [newName, 'bgpvs-import'].sort());
  assert.deepEqual([...fake.sets.values()].map((d) => d.prefixes?.map((p) => p.ip_prefix)).sort(), [['10.200.0.0/16'], ['fd00:100::/64']]);
  assert.deepEqual(fake.softResets, ['10.0.0.1 out']);
  fake.calls = [];
  await wider.resync();
  assert.deepEqual(mutations(fake.calls).filter((c) => c !== 'SetPolicyAssignment'), [], 'same pools: nothing written');
});

test('speaker: the link-bandwidth hook puts the extended community on weighted paths', async () => {
  const fake = new FakeGobgp();
  const sp = new GobgpSpeaker({
    client: fake,
    logger: silentLogger(),
    config: { ...cfg, linkBandwidth: (a) => (a.weighted ? { asn: 65011, bytesPerSecond: a.localReadyEndpoints * 125_000 } : undefined) },
  });
  await sp.resync();
  await sp.setAdvertisements([ad('10.100.0.1/32', { weighted: true, localReadyEndpoints: 3 }), ad('10.100.0.2/32')]);
  const lb = (prefix: string) =>
    fake.paths.get(`AFI_IP|${prefix}`)?.pattrs.find((a) => a.extended_communities)?.extended_communities?.communities[0]?.link_bandwidth;
  assert.deepEqual(lb('10.100.0.1/32'), { asn: 65011, bandwidth: 375_000 });
  assert.equal(lb('10.100.0.2/32'), undefined);
});

test('speaker: a new speaker on a gobgpd that already holds our paths leaves them until it knows the wanted set', async () => {
  const fake = new FakeGobgp();
  const before = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  await before.resync();
  await before.setAdvertisements([ad('10.100.0.1/32'), ad('10.100.0.2/32')]);
  // The agent restarts; gobgpd (a sidecar) keeps running.
  const after = new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg });
  fake.calls = [];
  const r = await after.resync();
  assert.deepEqual([r.added, r.replaced, r.deleted, r.advertised], [0, 0, 0, 2]);
  assert.equal(fake.paths.size, 2, 'nothing withdrawn before the first pass');
  const first = await after.setAdvertisements([ad('10.100.0.1/32'), ad('10.100.0.2/32')]);
  assert.deepEqual([first.added, first.replaced, first.deleted], [0, 0, 0]);
  assert.deepEqual(mutations(fake.calls).filter((c) => c !== 'SetPolicyAssignment'), [], 'no path, peer or policy written');
  // Withdrawing everything is a wanted set too.
  assert.equal((await new GobgpSpeaker({ client: fake, logger: silentLogger(), config: cfg }).withdrawAll()).deleted, 2);
});
