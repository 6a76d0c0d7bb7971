/**
 * What the speaker leaves in a real gobgpd, read back from gobgpd itself (GetBgp, ListPeer,
 * ListPath) and from a real FRR: every peer field, no BGP listener by default, paths of
 * others left alone, the import policy, and gobgpd run as a sidecar (external mode).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ROUTER_ASN, ROUTER_IP, ad, nodeAsn, nodeIp, skipReason } from '../rig/bgp-lab.js';
import { waitFor } from '../../src/util/wait.js';
import { FAMILY_IPV4, GobgpClient, type GobgpApi, type Peer } from '../../src/bgp/gobgp-client.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { GobgpdSupervisor } from '../../src/bgp/supervisor.js';
import type { PeerConfig } from '../../src/bgp/config.js';
import { gobgpProtoDir, toolPath } from '../rig/paths.js';
import { silentLogger } from '../../src/observability/logger.js';

const skip = skipReason('frr');
const VIP = '10.100.0.10/32';
const OUT = '10.200.0.1/32';
const routerPeer: PeerConfig = { address: ROUTER_IP, asn: ROUTER_ASN, connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 };

async function waitPeerUp(client: GobgpApi, address: string): Promise<void> {
  await waitFor(`session to ${address} established`, async () => ((await client.listPeer(address))[0]?.state?.session_state === 'SESSION_STATE_ESTABLISHED' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}

/** Listening TCP sockets in a node namespace (`ss -Hltn`: local address:port per line). */
async function listeners(l: BgpLab, ns: string): Promise<string[]> {
  const r = await l.lab.exec(ns, ['ss', '-Hltn']);
  return r.stdout.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/)[3] ?? line);
}

test('bgp/gobgpd: the global config and every peer field reach the real gobgpd; by default it does not listen on 179', { skip }, async (t) => {
  const full: PeerConfig = {
    address: '10.0.0.2', // nobody there: only the config is checked
    asn: 64999,
    port: 1179,
    password: 'from-a-secret',
    holdTimeSeconds: 9,
    keepaliveSeconds: 3,
    ebgpMultihop: 4,
    bfd: { minRxMs: 150, minTxMs: 200, multiplier: 5 },
    gracefulRestart: { restartTimeSeconds: 120 },
    families: ['IPv4', 'IPv6'],
    sourceAddress: nodeIp(0),
  };
  // node 0: defaults but a router-id override and a second peer with every field;
  // node 1: listens on 1790, the control that the listener check sees gobgpd's sockets.
  const l = await BgpLab.create({
    tag: 'bgpfields',
    nodes: 2,
    router: 'frr',
    speaker: (i) => (i === 0 ? { routerId: '10.9.9.9', peers: [routerPeer, full] } : { listenPort: 1790 }),
  });
  t.after(() => l.destroy());
  const [n0, n1] = l.nodes as [(typeof l.nodes)[0], (typeof l.nodes)[0]];
  await waitPeerUp(n0.client, ROUTER_IP);
  await waitPeerUp(n1.client, ROUTER_IP);

  const g0 = await n0.client.getBgp();
  assert.deepEqual([g0?.asn, g0?.router_id, g0?.listen_port], [nodeAsn(0), '10.9.9.9', -1]);
  assert.equal((await n1.client.getBgp())?.router_id, nodeIp(1), 'router-id defaults to the node address');
  assert.deepEqual(
    (await listeners(l, 'n0')).filter((a) => !a.startsWith('127.0.0.1:')),
    [],
    'node 0: no listener but gRPC on loopback (no BGP port at all, 179 included)',
  );
  assert.ok((await listeners(l, 'n1')).some((a) => a.endsWith(':1790')), 'control: a configured listen port shows up');

  const [p] = (await n0.client.listPeer('10.0.0.2')) as (Peer & {
    timers: { config: Record<string, string> };
    transport: { remote_port: number; local_address: string };
  })[];
  assert.ok(p, 'the second peer exists in gobgpd');
  assert.equal(p.conf.peer_asn, 64999);
  assert.equal(p.conf.auth_password, 'from-a-secret');
  assert.match(p.conf.description ?? '', /^bgpvs:[0-9a-f]{16}$/);
  assert.equal(p.transport.remote_port, 1179);
  assert.equal(p.transport.local_address, nodeIp(0));
  assert.deepEqual([p.timers.config.hold_time, p.timers.config.keepalive_interval, p.timers.config.connect_retry].map(String), ['9', '3', '5']);
  assert.deepEqual([p.ebgp_multihop?.enabled, p.ebgp_multihop?.multihop_ttl], [true, 4]);
  assert.deepEqual(
    [p.bfd?.enabled, p.bfd?.desired_minimum_tx_interval, p.bfd?.required_minimum_receive, p.bfd?.detection_multiplier],
    [true, 200_000, 150_000, 5],
  );
  assert.deepEqual([p.graceful_restart?.enabled, p.graceful_restart?.restart_time, p.graceful_restart?.helper_only], [true, 120, false]);
  assert.deepEqual(
    p.afi_safis?.map((a) => [a.config.family.afi, a.config.enabled, a.mp_graceful_restart?.config.enabled]).sort(),
    [
      ['AFI_IP', true, true],
      ['AFI_IP6', true, true],
    ],
  );
  // The router peer, with no such options, has none of them.
  const [r] = await n0.client.listPeer(ROUTER_IP);
  assert.deepEqual([r?.bfd?.enabled, r?.ebgp_multihop?.enabled, r?.graceful_restart?.enabled, r?.conf.auth_password], [false, false, false, '']);
});

test('bgp/gobgpd: our paths reach the router with their attributes and the marker; a path someone else added with the gobgp CLI survives every reconcile', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpforeign', nodes: 1, router: 'frr' });
  t.after(() => l.destroy());
  await l.waitEstablished();
  const n = l.nodes[0]!;
  const FOREIGN = '10.100.0.99/32'; // inside the pool: the router gets it too
  await l.lab.exec('n0', [toolPath('gobgp'), 'global', 'rib', 'add', FOREIGN, 'origin', 'igp', 'nexthop', nodeIp(0), 'community', '65000:7', '-a', 'ipv4']);
  await n.speaker.setAdvertisements([ad(VIP, { communities: ['65000:100'], largeCommunities: ['65000:7:8'] })]);
  await l.waitNexthops(VIP, 1);
  await l.waitNexthops(FOREIGN, 1);
  const marker = `${nodeAsn(0)}:4242:1`;
  const [ours] = await l.frr!.bgpPaths(VIP);
  assert.deepEqual([ours?.origin, ours?.nexthop, ours?.communities], ['IGP', nodeIp(0), ['65000:100']]);
  assert.deepEqual(ours?.largeCommunities.slice().sort(), ['65000:7:8', marker].sort(), 'the pool\'s large community and our marker');
  assert.ok(!(await l.frr!.bgpPaths(FOREIGN))[0]?.largeCommunities.includes(marker), 'the foreign path does not');

  const r = await n.speaker.setAdvertisements([]);
  assert.equal(r.deleted, 1, 'only our path is withdrawn');
  const again = await n.speaker.resync();
  assert.deepEqual([again.added, again.replaced, again.deleted], [0, 0, 0]);
  // A later change travels after any withdrawal of the foreign path: once it is in, that would be too.
  await n.speaker.setAdvertisements([ad('10.100.0.11/32')]);
  await l.waitNexthops('10.100.0.11/32', 1);
  assert.deepEqual(await l.fibNexthops(VIP), []);
  assert.deepEqual(await l.fibNexthops(FOREIGN), [nodeIp(0)], 'the foreign path is still announced');
  const held = (await n.client.listPath(FAMILY_IPV4)).find((d) => d.prefix === FOREIGN);
  assert.ok(held?.paths.length, 'gobgpd still holds the foreign path');
});

test('bgp/frr: the import policy rejects every route the router sends; enabled only where asked', { skip }, async (t) => {
  const LEARNED = '192.0.2.0/24';
  const l = await BgpLab.create({
    tag: 'bgpimport',
    nodes: 2,
    router: 'frr',
    routerExtraBgpLines: ['address-family ipv4 unicast', ` network ${LEARNED}`, 'exit-address-family'],
    speaker: (i) => (i === 1 ? { importEnabled: true } : {}),
  });
  t.after(() => l.destroy());
  await l.waitEstablished();
  const learned = async (i: number) =>
    (await l.nodes[i]!.client.listPath(FAMILY_IPV4)).flatMap((d) => d.paths.map((p) => ({ prefix: d.prefix, from: p.neighbor_ip }))).filter((p) => p.from);
  // Control: node 1 (import enabled) holds the router's route, so the router does send it.
  await waitFor('node 1 learned the router route', async () => ((await learned(1)).some((p) => p.prefix === LEARNED && p.from === ROUTER_IP) ? true : undefined), {
    timeoutMs: 30_000,
  });
  // node 0 received it as well, and its RIB holds nothing learned.
  const n0 = l.nodes[0]!;
  await waitFor('node 0 received the route', async () => {
    const [peer] = await n0.client.listPeer(ROUTER_IP);
    const st = (peer as unknown as { afi_safis?: { state?: { received?: string } }[] })?.afi_safis?.[0]?.state;
    return Number(st?.received ?? 0) > 0 ? true : undefined;
  });
  assert.deepEqual(await learned(0), [], 'default: no route learned from a peer');
});

test('bgp/frr: external gobgpd (sidecar): restarted by its own runtime → everything re-applied; an agent restart against it changes nothing', { skip }, async (t) => {
  const l = await BgpLab.create({ tag: 'bgpsidecar', nodes: 2, router: 'frr', gobgpd: 'external' });
  t.after(() => l.destroy());
  await l.waitEstablished();
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP), ad(OUT)]);
  await l.waitNexthops(VIP, 2);
  const [n0, n1] = l.nodes as [(typeof l.nodes)[0], (typeof l.nodes)[0]];
  assert.equal(n0.supervisor.pid, undefined, 'nothing spawned: the sidecar is not our child');

  // The sidecar dies and its runtime starts a new, empty one on the same socket.
  await l.killSidecar(0);
  await l.waitNexthops(VIP, 1, 30_000, 20);
  await l.startSidecar(0);
  assert.deepEqual(await l.waitNexthops(VIP, 2), [nodeIp(0), nodeIp(1)]);
  await n0.supervisor.settled();
  assert.ok(n0.supervisor.restarts >= 1, 'the supervisor re-applied');
  assert.equal(n0.supervisor.pid, undefined, 'still nothing spawned');
  const g = await n0.client.getBgp();
  assert.deepEqual([g?.asn, g?.router_id, g?.listen_port], [nodeAsn(0), nodeIp(0), -1]);
  const [exp] = await n0.client.listPolicyAssignment('POLICY_DIRECTION_EXPORT', 'global');
  assert.match(exp?.policies[0]?.name ?? '', /^bgpvs-export-/);
  assert.deepEqual((await n0.speaker.listOurs()).map((p) => p.prefix).sort(), [VIP, OUT].sort());
  await n0.speaker.setAdvertisements([ad(VIP), ad(OUT), ad('10.100.0.11/32')]);
  await l.waitNexthops('10.100.0.11/32', 1);
  assert.deepEqual(await l.fibNexthops(OUT), [], 'the export policy is back too');
  await waitFor('n0 peer state back from WatchEvent', () => (n0.supervisor.peers().some((p) => p.state === 'established') ? true : undefined), { timeoutMs: 30_000 });

  // node 1's agent restarts; its sidecar keeps running with everything in place.
  await n1.supervisor.kill();
  const client = new GobgpClient({ target: `unix://${l.sidecarSocket(1)}`, protoDir: gobgpProtoDir() });
  const writes: string[] = [];
  for (const m of ['startBgp', 'stopBgp', 'addPeer', 'deletePeer', 'addPath', 'addPathStream', 'deletePath', 'addPolicy', 'deletePolicy', 'addDefinedSet', 'deleteDefinedSet'] as const) {
    const orig = client[m].bind(client) as (...a: unknown[]) => Promise<unknown>;
    (client as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => (writes.push(m), orig(...a));
  }
  const speaker = new GobgpSpeaker({ client, logger: silentLogger(), config: n1.config });
  const sup = new GobgpdSupervisor({ speaker, client, logger: silentLogger(), gobgpd: { mode: 'external', target: `unix://${l.sidecarSocket(1)}` } });
  t.after(() => sup.kill());
  await sup.start();
  const r = await speaker.setAdvertisements([ad(VIP), ad(OUT)]);
  assert.deepEqual([r.added, r.replaced, r.deleted], [0, 0, 0]);
  assert.deepEqual(writes, [], 'the new agent wrote nothing to a sidecar already in the wanted state');
  // Peer state without any session change: WatchEvent's initial dump.
  await waitFor('peer state from the initial WatchEvent dump', () => (sup.peers().some((p) => p.address === ROUTER_IP && p.state === 'established') ? true : undefined), {
    timeoutMs: 10_000,
  });
  assert.deepEqual(await l.fibNexthops(VIP), [nodeIp(0), nodeIp(1)], 'no flap at the router');
  await sup.kill();
});
