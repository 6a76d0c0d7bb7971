/**
 * Real gobgpd on three node namespaces, real FRR as the upstream router: ECMP, withdrawal,
 * gobgpd killed and restarted by the supervisor, the export policy, graceful shutdown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ROUTER_ASN, ROUTER_IP, ad, nodeIp, nodeIp6, skipReason } from '../rig/bgp-lab.js';
import { waitFor } from '../../src/util/wait.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { silentLogger } from '../../src/observability/logger.js';
import { AgentMetrics } from '../../src/observability/metrics.js';

const skip = skipReason('frr');
const VIP = '10.100.0.10/32';

test('bgp/frr: three nodes announce one VIP → one FIB route with three next hops; one withdraws → two', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpecmp', nodes: 3, router: 'frr' });
  t.after(() => l.destroy());
  await l.waitEstablished();
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP, { communities: ['65000:100'] })]);
  assert.deepEqual(await l.waitNexthops(VIP, 3), [nodeIp(0), nodeIp(1), nodeIp(2)]);

  const second = await l.nodes[1]!.speaker.setAdvertisements([ad(VIP, { communities: ['65000:100'] })]);
  assert.deepEqual([second.added, second.replaced, second.deleted], [0, 0, 0], 'a repeated set is a no-op');

  await l.nodes[1]!.speaker.setAdvertisements([]);
  assert.deepEqual(await l.waitNexthops(VIP, 2), [nodeIp(0), nodeIp(2)]);

  // The import policy rejects what the router sends back: node 0 receives node 2's path
  // to the VIP (through the router), but its RIB holds only its own.
  const n0 = l.nodes[0]!;
  await waitFor('node 0 received a route from the router', async () => {
    const [peer] = await n0.client.listPeer();
    const st = (peer as unknown as { afi_safis?: { state?: { received?: string } }[] })?.afi_safis?.[0]?.state;
    return Number(st?.received ?? 0) > 0 ? true : undefined;
  });
  const dests = await n0.client.listPath({ afi: 'AFI_IP', safi: 'SAFI_UNICAST' });
  const learned = dests.flatMap((d) => d.paths).filter((p) => p.neighbor_ip);
  assert.deepEqual(learned, [], 'no path learned from a peer');
});

test('bgp/frr: kill -9 gobgpd → the supervisor restarts it and re-applies global, policies, peers and paths', { skip }, async (t) => {
  const metrics = [new AgentMetrics({ defaultMetrics: false }), new AgentMetrics({ defaultMetrics: false })];
  const l = await BgpLab.create({ tag: 'bgpkill', nodes: 2, router: 'frr', metrics: (i) => metrics[i]! });
  t.after(() => l.destroy());
  await l.waitEstablished();
  const OUT = '10.200.0.1/32'; // outside the pools: only the export policy keeps it in
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP), ad(OUT)]);
  await l.waitNexthops(VIP, 2);

  const n0 = l.nodes[0]!;
  const sup = n0.supervisor;
  const pid = sup.pid;
  assert.ok(pid, 'gobgpd runs as a child');
  process.kill(pid, 'SIGKILL');
  await l.waitNexthops(VIP, 1, 30_000, 20); // the router saw the session go
  await waitFor('gobgpd restarted', () => (sup.pid && sup.pid !== pid ? true : undefined), { timeoutMs: 30_000 });
  assert.deepEqual(await l.waitNexthops(VIP, 2), [nodeIp(0), nodeIp(1)]);
  assert.ok(sup.restarts >= 1);
  await sup.settled();

  // The new gobgpd started empty: whatever it holds now, the supervisor re-applied.
  const global = await n0.client.getBgp();
  assert.deepEqual([global?.asn, global?.router_id, global?.listen_port], [n0.asn, nodeIp(0), -1], 'global: ASN, router-id = node address, no listener');
  const [peer] = await n0.client.listPeer();
  assert.equal(peer?.conf.neighbor_address, ROUTER_IP);
  assert.match(peer?.conf.description ?? '', /^bgpvs:/, 'the peer is ours (tagged)');
  const [exp] = await n0.client.listPolicyAssignment('POLICY_DIRECTION_EXPORT', 'global');
  assert.match(exp?.policies[0]?.name ?? '', /^bgpvs-export-/);
  assert.equal(exp?.default_action, 'ROUTE_ACTION_REJECT');
  const [imp] = await n0.client.listPolicyAssignment('POLICY_DIRECTION_IMPORT', 'global');
  assert.equal(imp?.default_action, 'ROUTE_ACTION_REJECT');
  assert.deepEqual((await n0.speaker.listOurs()).map((p) => p.prefix).sort(), [VIP, OUT].sort(), 'the full path set is back');
  // ... and the export policy still holds the out-of-pool path back.
  await n0.speaker.setAdvertisements([ad(VIP), ad(OUT), ad('10.100.0.11/32')]);
  await l.waitNexthops('10.100.0.11/32', 1);
  const table = await l.vtyshJson<{ routes: Record<string, unknown> }>('show bgp ipv4 unicast json');
  assert.deepEqual(Object.keys(table.routes).sort(), [VIP, '10.100.0.11/32']);

  // Peer state from WatchEvent, in status and in the metrics.
  await waitFor('peer established in status', () => (sup.peers().some((p) => p.address === ROUTER_IP && p.state === 'established') ? true : undefined), { timeoutMs: 30_000 });
  const text = await metrics[0]!.registry.metrics();
  assert.match(text, /bgpvs_bgp_session_up\{peer="10\.0\.0\.1"\} 1/);
  const established = /bgpvs_bgp_session_changes_total\{peer="10\.0\.0\.1",state="established"\} (\d+)/.exec(text);
  assert.ok(Number(established?.[1]) >= 2, `established before and after the kill: ${established?.[0]}`);
});

test('bgp/frr: a VIP outside the pools never reaches the router; new pools apply live', { skip }, async (t) => {
  // Dual stack with IPv4 pools only: the IPv6 export set is empty and must match nothing.
  const l = await BgpLab.create({ tag: 'bgpleak', nodes: 1, router: 'frr', ipv6: true, exportCidrs: ['10.100.0.0/24'] });
  t.after(() => l.destroy());
  await l.waitEstablished();
  const OUT = '10.200.0.1/32';
  const EDGE = '10.100.1.1/32'; // just outside the /24
  const V6 = 'fd00:100::1/128';
  const n = l.nodes[0]!;
  const all = [ad(OUT), ad(VIP), ad(EDGE), ad(V6)];
  await n.speaker.setAdvertisements(all);
  await l.waitNexthops(VIP, 1);
  // gobgpd holds them all (the speaker announced them); only the export policy stops them.
  const ours = (await n.speaker.listOurs()).map((p) => p.prefix).sort();
  assert.deepEqual(ours, [VIP, EDGE, OUT, V6].sort());
  // A later in-pool change travels after the out-of-pool paths: once it arrives, they would have too.
  await n.speaker.setAdvertisements([...all, ad('10.100.0.11/32')]);
  await l.waitNexthops('10.100.0.11/32', 1);
  const table = await l.vtyshJson<{ routes: Record<string, unknown> }>('show bgp ipv4 unicast json');
  assert.deepEqual(Object.keys(table.routes).sort(), ['10.100.0.10/32', '10.100.0.11/32']);
  const table6 = await l.vtyshJson<{ routes?: Record<string, unknown> }>('show bgp ipv6 unicast json');
  assert.deepEqual(Object.keys(table6.routes ?? {}), []);
  for (const p of [OUT, EDGE, V6]) assert.deepEqual(await l.fibNexthops(p), [], p);

  // The same gobgpd, new pools (an agent restarted against a sidecar): only the sets change.
  const wider = new GobgpSpeaker({
    client: n.client,
    logger: silentLogger(),
    config: { asn: n.asn, nextHops: { IPv4: n.address, IPv6: nodeIp6(0) }, peers: [{ address: ROUTER_IP, asn: ROUTER_ASN, connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }], exportCidrs: ['10.200.0.0/16', 'fd00:100::/64'] },
  });
  await wider.setAdvertisements(all).catch(() => undefined);
  await wider.resync();
  await l.waitNexthops(OUT, 1);
  await l.waitNexthops(V6, 1);
  await l.waitNexthops(VIP, 0);
});

test('bgp/frr: stop → the router sees GRACEFUL_SHUTDOWN (65535:0), and lowers the path, before the withdrawal', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpgshut', nodes: 1, router: 'frr', drainMs: 1500 });
  t.after(() => l.destroy());
  await l.waitEstablished();
  await l.nodes[0]!.speaker.setAdvertisements([ad(VIP, { communities: ['65000:100'] })]);
  await l.waitNexthops(VIP, 1);

  const frr = l.frr!;
  const before = (await frr.bgpPaths(VIP))[0];
  const seen: { at: number; gshut: boolean; present: boolean; localPref?: number | undefined }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const paths = await frr.bgpPaths(VIP).catch(() => undefined);
      if (paths) seen.push({ at: Date.now(), present: paths.length > 0, gshut: paths.some((p) => p.communities.includes('graceful-shutdown')), localPref: paths[0]?.localPref });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  await l.nodes[0]!.supervisor.stop();
  await waitFor('route withdrawn at the router', () => (seen.at(-1)?.present === false ? true : undefined), { timeoutMs: 10_000 });
  polling = false;
  await poller;
  const firstGshut = seen.findIndex((s) => s.gshut);
  const firstGone = seen.findIndex((s) => !s.present);
  assert.ok(firstGshut >= 0, 'the router saw the graceful-shutdown community');
  assert.ok(firstGshut < firstGone, 'graceful-shutdown arrived before the withdrawal');
  assert.ok(seen.slice(0, firstGshut).every((s) => s.present), 'the route stayed until after the drain');
  // eBGP carries no LOCAL_PREF; the lowered preference is the router's answer to the
  // community (FRR sets local-pref 0 on receipt, RFC 8326 section 4.3).
  assert.notEqual(before?.localPref, 0, 'not lowered before the drain');
  assert.equal(seen[firstGshut]?.localPref, 0, 'lowered at the router during the drain');
});
