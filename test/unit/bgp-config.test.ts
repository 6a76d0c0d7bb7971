/** Speaker config → gobgpd global, peer and policy messages: table-driven. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXPORT_POLICY, IMPORT_POLICY, renderGlobal, renderPeer, renderPolicies, type PeerConfig } from '../../src/bgp/config.js';

test('renderGlobal: router-id defaults to the node IPv4 address, listen port to -1', () => {
  assert.deepEqual(renderGlobal({ asn: 65011, nextHops: { IPv4: '10.0.0.11' }, peers: [], exportCidrs: [] }), {
    asn: 65011,
    router_id: '10.0.0.11',
    listen_port: -1,
    listen_addresses: [],
  });
  assert.equal(renderGlobal({ asn: 1, routerId: '1.1.1.1', listenPort: 179, nextHops: {}, peers: [], exportCidrs: [] }).listen_port, 179);
  assert.throws(() => renderGlobal({ asn: 1, nextHops: { IPv6: 'fd00::1' }, peers: [], exportCidrs: [] }), /router-id/);
});

test('renderPeer: table', () => {
  const nh = { nextHops: { IPv4: '10.0.0.11' } };
  const cases: { name: string; peer: PeerConfig; check: (p: ReturnType<typeof renderPeer>) => void }[] = [
    {
      name: 'minimal: IPv4 family, connect retry 5, tagged',
      peer: { address: '10.0.0.1', asn: 65000 },
      check: (p) => {
        assert.equal(p.conf.neighbor_address, '10.0.0.1');
        assert.equal(p.conf.peer_asn, 65000);
        assert.match(p.conf.description ?? '', /^bgpvs:[0-9a-f]{16}$/);
        assert.deepEqual(p.afi_safis?.map((a) => a.config.family.afi), ['AFI_IP']);
        assert.equal(p.timers?.config.connect_retry, '5');
        assert.equal(p.bfd, undefined);
        assert.equal(p.ebgp_multihop, undefined);
      },
    },
    {
      name: 'everything',
      peer: {
        address: '10.0.0.1',
        asn: 65000,
        port: 1179,
        password: 's3cret',
        holdTimeSeconds: 9,
        keepaliveSeconds: 3,
        ebgpMultihop: 4,
        bfd: { minRxMs: 100, minTxMs: 200, multiplier: 5 },
        gracefulRestart: { restartTimeSeconds: 120 },
        families: ['IPv4', 'IPv6'],
        sourceAddress: '10.0.0.11',
      },
      check: (p) => {
        assert.equal(p.conf.auth_password, 's3cret');
        assert.deepEqual(p.timers?.config, { connect_retry: '5', hold_time: '9', keepalive_interval: '3' });
        assert.deepEqual(p.transport, { local_address: '10.0.0.11', remote_port: 1179 });
        assert.deepEqual(p.ebgp_multihop, { enabled: true, multihop_ttl: 4 });
        assert.deepEqual(p.bfd, { enabled: true, desired_minimum_tx_interval: 200_000, required_minimum_receive: 100_000, detection_multiplier: 5 });
        assert.deepEqual(p.graceful_restart, { enabled: true, restart_time: 120, helper_only: false });
        assert.deepEqual(p.afi_safis?.map((a) => [a.config.family.afi, a.mp_graceful_restart?.config.enabled]), [['AFI_IP', true], ['AFI_IP6', true]]);
      },
    },
  ];
  for (const c of cases) c.check(renderPeer(c.peer, nh));
  // The tag changes with the config, and only then.
  const a = renderPeer({ address: '10.0.0.1', asn: 65000 }, nh).conf.description;
  assert.equal(renderPeer({ address: '10.0.0.1', asn: 65000 }, nh).conf.description, a);
  assert.notEqual(renderPeer({ address: '10.0.0.1', asn: 65001 }, nh).conf.description, a);
});

test('renderPolicies: export only inside the pools; import rejects peers unless enabled', () => {
  const p = renderPolicies({ exportCidrs: ['10.100.0.5/16', '2001:db8:1::/48'] });
  const [v4, v6] = p.definedSets;
  assert.match(v4!.name, /^bgpvs-export-v4-[0-9a-f]{10}$/);
  assert.match(v6!.name, /^bgpvs-export-v6-[0-9a-f]{10}$/);
  assert.deepEqual(v4!.prefixes, [{ ip_prefix: '10.100.0.0/16', mask_length_min: 16, mask_length_max: 32 }]);
  assert.deepEqual(v6!.prefixes, [{ ip_prefix: '2001:db8:1::/48', mask_length_min: 48, mask_length_max: 128 }]);
  const exp = p.policies.find((x) => x.name.startsWith(`${EXPORT_POLICY}-`))!;
  assert.deepEqual(exp.statements.map((s) => [s.conditions?.prefix_set?.name, s.actions.route_action]), [
    [v4!.name, 'ROUTE_ACTION_ACCEPT'],
    [v6!.name, 'ROUTE_ACTION_ACCEPT'],
  ]);
  const byDir = Object.fromEntries(p.assignments.map((a) => [a.direction, a]));
  assert.deepEqual(byDir.POLICY_DIRECTION_EXPORT?.policies, [{ name: exp.name }]);
  assert.equal(byDir.POLICY_DIRECTION_EXPORT?.default_action, 'ROUTE_ACTION_REJECT');
  assert.equal(byDir.POLICY_DIRECTION_IMPORT?.default_action, 'ROUTE_ACTION_REJECT');
  assert.deepEqual(byDir.POLICY_DIRECTION_IMPORT?.policies, [{ name: IMPORT_POLICY }]);
  assert.equal(renderPolicies({ exportCidrs: [], importEnabled: true }).assignments[1]?.default_action, 'ROUTE_ACTION_ACCEPT');
  // The names follow the pools (order and host bits do not matter); no pools: empty sets.
  assert.equal(renderPolicies({ exportCidrs: ['2001:db8:1::/48', '10.100.0.0/16'] }).policies[0]?.name, exp.name);
  const none = renderPolicies({ exportCidrs: [] });
  assert.notEqual(none.policies[0]?.name, exp.name);
  assert.deepEqual(none.definedSets.map((d) => d.prefixes), [[], []]);
});
