/**
 * FrrRouter smoke: real FRR 8.4 in a router namespace, real gobgpd (v4) in node namespaces
 * on a bridge. One node → the announced /32 in the router's kernel FIB via the node; two
 * nodes in two ASes → one ECMP route with both nexthops. The parsers are checked against
 * the live daemons' output here (their unit tests use outputs captured from these runs:
 * set BGPVS_CAPTURE=dir to write them again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetLab } from '../rig/netns.js';
import { FrrRouter, checkFrrConfig, frrSkipReason, renderFrrConfig } from '../rig/frr-router.js';
import { processAlive } from '../../src/util/process.js';
import { BirdRouter, birdSkipReason } from '../rig/bird-router.js';
import { gateways } from '../rig/parsers/ip-route-json.js';
import { gobgpProtoDir } from '../rig/paths.js';
import { GobgpClient } from '../../src/bgp/gobgp-client.js';
import { toGobgpPath } from '../../src/bgp/paths.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { GobgpdNode } from '../rig/gobgpd-node.js';
import { ROUTER, VIP, capture, node, routerTestSkipReason, teardown, topology } from '../rig/router-fixture.js';

const skip = routerTestSkipReason(frrSkipReason());

test('FrrRouter: gobgpd peers, its /32 lands in the router kernel FIB via the node', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await topology('frr1', 1);
  const cleanup = teardown(t, lab);
  const n0 = node(0);
  const frr = await FrrRouter.start({
    lab,
    ns: 'r',
    config: { asn: 65000, routerId: ROUTER, neighbors: [{ address: n0.ip, asn: n0.asn }], multipath: { relax: true, maxPaths: 8 }, debugUpdates: true },
  });
  cleanup.push(() => frr.stop());
  const tFrr = Date.now();
  const gobgpd = await GobgpdNode.start({ lab, ns: n0.ns, asn: n0.asn, routerId: n0.ip, peer: { address: ROUTER, asn: 65000 } });
  cleanup.push(() => gobgpd.stop());
  await gobgpd.announce(VIP, n0.ip, ['community', '65535:0']);
  const tAnnounce = Date.now();

  const route = await waitFor('VIP in the router kernel FIB', async () => {
    const r = await frr.kernelRoute(VIP);
    return r && r.nexthops.length > 0 ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  const tFib = Date.now();
  assert.deepEqual(gateways(route), [n0.ip]);
  assert.equal(route.protocol, 'bgp');

  const peers = await frr.bgpSummary();
  assert.deepEqual(peers.map((p) => [p.address, p.remoteAs, p.state]), [[n0.ip, n0.asn, 'Established']]);
  assert.equal(peers[0]?.prefixesReceived, 1);

  const paths = await frr.bgpPaths(VIP);
  assert.equal(paths.length, 1);
  assert.equal(paths[0]?.nexthop, n0.ip);
  assert.equal(paths[0]?.best, true);
  assert.equal(paths[0]?.asPath, String(n0.asn));
  assert.ok(paths[0]?.communities.includes('graceful-shutdown'), `communities: ${paths[0]?.communities.join(',')}`);

  const rib = await frr.routes(VIP);
  assert.equal(rib.length, 1);
  assert.equal(rib[0]?.protocol, 'bgp');
  assert.equal(rib[0]?.installed, true);
  assert.deepEqual(rib[0]?.nexthops.map((n) => [n.ip, n.fib]), [[n0.ip, true]]);

  capture('frr-summary-1.json', await frr.vtysh('show bgp ipv4 unicast summary json'));
  capture('frr-bgp-route-gshut.json', await frr.vtysh(`show bgp ipv4 unicast ${VIP} json`));
  capture('frr-ip-route-1.json', await frr.vtysh(`show ip route ${VIP} json`));
  capture('ip-route-single.json', (await lab.exec('r', ['ip', '-j', 'route', 'show', VIP])).stdout);

  // withdraw → gone from the FIB and from bgpd
  await gobgpd.withdraw(VIP);
  await waitFor('VIP withdrawn from the FIB', async () => ((await frr.kernelRoute(VIP)) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
  assert.deepEqual(await frr.bgpPaths(VIP), []);
  // the order bgpd received them in: announced with GRACEFUL_SHUTDOWN, then withdrawn
  const updates = frr.receivedUpdates(VIP);
  assert.deepEqual(updates.map((u) => [u.peer, u.kind, u.communities]), [[n0.ip, 'announce', ['graceful-shutdown']], [n0.ip, 'withdraw', undefined]]);
  assert.equal(updates[0]?.attrs?.path, String(n0.asn));
  capture('frr-bgpd-updates.log', readFileSync(join(frr.dir, 'frr.log'), 'utf8'));
  capture('frr-bgp-route-absent.json', await frr.vtysh(`show bgp ipv4 unicast ${VIP} json`));
  capture('frr-ip-route-absent.json', await frr.vtysh(`show ip route ${VIP} json`));
  t.diagnostic(`frr start ${tFrr - t0} ms (incl. netns); gobgpd up + announce ${tAnnounce - tFrr} ms; announce → FIB ${tFib - tAnnounce} ms; total ${Date.now() - t0} ms`);
});

test('FrrRouter: two nodes in two ASes announce the same /32 → one kernel route, two nexthops', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await topology('frr2', 2);
  const cleanup = teardown(t, lab);
  const nodes = [node(0), node(1)];
  const frr = await FrrRouter.start({
    lab,
    ns: 'r',
    config: { asn: 65000, routerId: ROUTER, neighbors: nodes.map((n) => ({ address: n.ip, asn: 'external' as const })), multipath: { relax: true, maxPaths: 8 } },
  });
  cleanup.push(() => frr.stop());
  for (const n of nodes) {
    const g = await GobgpdNode.start({ lab, ns: n.ns, asn: n.asn, routerId: n.ip, peer: { address: ROUTER, asn: 65000 } });
    cleanup.push(() => g.stop());
    await g.announce(VIP, n.ip);
  }
  const tAnnounce = Date.now();
  const route = await waitFor('two nexthops in the FIB', async () => {
    const r = await frr.kernelRoute(VIP);
    return r && r.nexthops.length === 2 ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  const tFib = Date.now();
  assert.deepEqual(gateways(route), nodes.map((n) => n.ip));
  assert.deepEqual(route.nexthops.map((n) => n.weight), [1, 1]);
  const peers = await frr.bgpSummary();
  assert.deepEqual(peers.map((p) => p.state), ['Established', 'Established']);
  const paths = await frr.bgpPaths(VIP);
  assert.deepEqual(paths.map((p) => p.multipath), [true, true]);
  assert.equal(paths.filter((p) => p.best).length, 1);
  const rib = await frr.routes(VIP);
  assert.deepEqual(rib[0]?.nexthops.map((n) => n.ip).sort(), nodes.map((n) => n.ip));
  capture('frr-summary-2.json', await frr.vtysh('show bgp ipv4 unicast summary json'));
  capture('frr-bgp-route-ecmp.json', await frr.vtysh(`show bgp ipv4 unicast ${VIP} json`));
  capture('frr-ip-route-ecmp.json', await frr.vtysh(`show ip route ${VIP} json`));
  capture('ip-route-ecmp.json', (await lab.exec('r', ['ip', '-j', 'route', 'show', VIP])).stdout);
  t.diagnostic(`announce → 2-nexthop FIB route ${tFib - tAnnounce} ms; total ${Date.now() - t0} ms`);
});

test('FrrRouter: link-bandwidth on two nodes\' paths (via GoBGP gRPC) → weighted nexthops in FRR and the kernel', { skip }, async (t) => {
  const lab = await topology('frrlb', 2);
  const cleanup = teardown(t, lab);
  const nodes = [node(0), node(1)];
  const frr = await FrrRouter.start({
    lab,
    ns: 'r',
    config: { asn: 65000, routerId: ROUTER, neighbors: nodes.map((n) => ({ address: n.ip, asn: n.asn })), multipath: { relax: true, maxPaths: 8 } },
  });
  cleanup.push(() => frr.stop());
  const bw = [375_000, 125_000]; // bytes/s: 3 Mbps and 1 Mbps
  for (const [i, n] of nodes.entries()) {
    const g = await GobgpdNode.start({ lab, ns: n.ns, asn: n.asn, routerId: n.ip, peer: { address: ROUTER, asn: 65000 } });
    cleanup.push(() => g.stop());
    const client = new GobgpClient({ target: g.target, protoDir: gobgpProtoDir() });
    cleanup.push(async () => client.close());
    await client.addPath(toGobgpPath({ prefix: VIP, family: 'IPv4', nextHop: n.ip, communities: [], largeCommunities: [], linkBandwidth: { asn: n.asn, bytesPerSecond: bw[i]! } }));
  }
  const route = await waitFor('two weighted nexthops in the FIB', async () => {
    const r = await frr.kernelRoute(VIP);
    return r && r.nexthops.length === 2 && r.nexthops.some((h) => h.weight !== r.nexthops[0]?.weight) ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  const w = Object.fromEntries(route.nexthops.map((h) => [h.gateway, h.weight]));
  const share = w[nodes[0]!.ip]! / (w[nodes[0]!.ip]! + w[nodes[1]!.ip]!);
  assert.ok(Math.abs(share - 0.75) < 0.02, `kernel weights ${JSON.stringify(w)}`);
  const paths = await frr.bgpPaths(VIP);
  assert.deepEqual(
    paths.map((p) => [p.nexthop, p.linkBandwidth]).sort(),
    [[nodes[0]!.ip, { asn: nodes[0]!.asn, bytesPerSecond: bw[0], mbps: 3 }], [nodes[1]!.ip, { asn: nodes[1]!.asn, bytesPerSecond: bw[1], mbps: 1 }]],
  );
  const rib = await frr.routes(VIP);
  const rw = Object.fromEntries((rib[0]?.nexthops ?? []).map((h) => [h.ip, h.weight]));
  assert.ok(rw[nodes[0]!.ip]! > rw[nodes[1]!.ip]!, `rib weights ${JSON.stringify(rw)}`);
  capture('frr-bgp-route-lb.json', await frr.vtysh(`show bgp ipv4 unicast ${VIP} json`));
  capture('frr-ip-route-lb.json', await frr.vtysh(`show ip route ${VIP} json`));
  capture('ip-route-lb.json', (await lab.exec('r', ['ip', '-j', 'route', 'show', VIP])).stdout);
  t.diagnostic(`kernel weights ${JSON.stringify(w)}, FRR RIB weights ${JSON.stringify(rw)}`);
});

test('FrrRouter: BFD with gobgpd\'s native BFD; cutting the node\'s link drops the route within 1 s', { skip }, async (t) => {
  // two ports on the router's bridge, so cutting n0's link leaves br0 up: only BFD can notice
  const lab = await topology('frrbfd', 2);
  const cleanup = teardown(t, lab);
  const n0 = node(0);
  const frr = await FrrRouter.start({
    lab,
    ns: 'r',
    config: {
      asn: 65000,
      routerId: ROUTER,
      neighbors: [{ address: n0.ip, asn: n0.asn, bfd: true }],
      bfdProfile: { name: 'fast', receiveMs: 100, transmitMs: 100, multiplier: 3 },
    },
  });
  cleanup.push(() => frr.stop());
  assert.ok(frr.daemonPids.has('bfdd'));
  const g = await GobgpdNode.start({ lab, ns: n0.ns, asn: n0.asn, routerId: n0.ip, peer: { address: ROUTER, asn: 65000 }, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } });
  cleanup.push(() => g.stop());
  await g.announce(VIP, n0.ip);
  await waitFor('VIP in the FIB', async () => ((await frr.kernelRoute(VIP))?.nexthops.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
  const [bfd] = await waitFor('BFD up', async () => {
    const ps = await frr.bfdPeers();
    return ps[0]?.status === 'up' ? ps : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  assert.equal(bfd?.peer, n0.ip);
  assert.equal(bfd?.detectMultiplier, 3);
  assert.equal(bfd?.receiveIntervalMs, 100);
  capture('frr-bfd-peers-up.json', await frr.vtysh('show bfd peers json'));
  // BFD coming up can reset the BGP session once: wait until session, BFD and route are steady
  await waitFor('steady: Established, BFD up, route in the FIB for 1 s', async () => {
    const ok = async () =>
      (await frr.bgpSummary())[0]?.state === 'Established' && (await frr.bfdPeers()).some((p) => p.status === 'up' && p.interface) && Boolean((await frr.kernelRoute(VIP))?.nexthops.length);
    if (!(await ok())) return undefined;
    await sleep(1000);
    return (await ok()) ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  const cut = Date.now();
  await lab.setLink(n0.ns, 'eth0', 'down');
  await waitFor('VIP gone from the FIB', async () => ((await frr.kernelRoute(VIP)) ? undefined : true), { timeoutMs: 10_000, intervalMs: 10 });
  const failover = Date.now() - cut;
  assert.ok(failover < 1000, `failover ${failover} ms`);
  const [down] = await waitFor('BFD down', async () => {
    const ps = await frr.bfdPeers();
    return ps[0]?.status === 'down' ? ps : undefined;
  }, { timeoutMs: 5000, intervalMs: 50 });
  assert.equal(down?.peer, n0.ip);
  capture('frr-bfd-peers-down.json', await frr.vtysh('show bfd peers json'));
  assert.notEqual((await frr.bgpSummary())[0]?.state, 'Established');
  t.diagnostic(`BFD failover (link cut → route gone from the router FIB): ${failover} ms`);
});

test('renderFrrConfig: every option is accepted by the real zebra/bgpd/bfdd (-C dry run)', { skip: frrSkipReason() }, async () => {
  const rendered = renderFrrConfig({
    asn: 65000,
    routerId: ROUTER,
    hostname: 'r',
    neighbors: [
      { address: '10.0.0.11', asn: 65011, bfd: true, timers: { keepaliveSeconds: 1, holdSeconds: 3, connectSeconds: 2 } },
      { address: '10.0.0.12', asn: 'external', port: 1790, password: 's3cret', updateSource: '10.0.0.1', ebgpMultihop: 2 },
      { address: '10.0.0.13', asn: 'internal', bfd: true },
    ],
    multipath: { relax: true, maxPaths: 16, maxPathsIbgp: 4 },
    bfdProfile: { name: 'fast', receiveMs: 100, transmitMs: 100, multiplier: 3 },
    bandwidth: 'skip-missing',
    extraBgpLines: ['bgp graceful-shutdown'],
    debugUpdates: true,
  }, { logFile: '/tmp/frr-check.log' });
  assert.deepEqual(await checkFrrConfig(rendered), []);
  // and the check does catch a bad line
  const bad = await checkFrrConfig({ frr: rendered.frr.replace(' bgp router-id', ' bgp router-idd'), bfdd: rendered.bfdd });
  assert.ok(bad.some((l) => l.startsWith('bgpd:')), bad.join('\n'));
});

test('two FrrRouters and a BirdRouter run at once in three namespaces, each with its own sockets', { skip: skip ?? birdSkipReason() }, async (t) => {
  const t0 = Date.now();
  const lab = await NetLab.create('multi');
  const cleanup = teardown(t, lab);
  const routers = [
    { ns: 'r1', ip: '10.0.0.1', asn: 65001 },
    { ns: 'r2', ip: '10.0.0.2', asn: 65002 },
    { ns: 'r3', ip: '10.0.0.3', asn: 65003 },
  ];
  const n0 = node(0);
  await lab.addNs('sw');
  await lab.addNs(n0.ns);
  await lab.link(n0.ns, 'eth0', 'sw', 'pn');
  await lab.addr(n0.ns, 'eth0', `${n0.ip}/24`);
  for (const r of routers) {
    await lab.addNs(r.ns, { forwarding: true });
    await lab.link(r.ns, 'eth0', 'sw', `p${r.ns}`);
    await lab.addr(r.ns, 'eth0', `${r.ip}/24`);
  }
  await lab.bridge('sw', 'br0', ['pn', ...routers.map((r) => `p${r.ns}`)]);
  const neighbors = [{ address: n0.ip, asn: n0.asn }];
  const frr1 = await FrrRouter.start({ lab, ns: 'r1', config: { asn: 65001, routerId: '10.0.0.1', neighbors } });
  cleanup.push(() => frr1.stop());
  const frr2 = await FrrRouter.start({ lab, ns: 'r2', config: { asn: 65002, routerId: '10.0.0.2', neighbors } });
  cleanup.push(() => frr2.stop());
  const bird = await BirdRouter.start({ lab, ns: 'r3', config: { asn: 65003, routerId: '10.0.0.3', neighbors } });
  cleanup.push(() => bird.stop());
  assert.notEqual(frr1.dir, frr2.dir);
  const pids = [...frr1.daemonPids.values(), ...frr2.daemonPids.values(), bird.pid];
  assert.equal(new Set(pids).size, 5, `distinct daemons: ${pids.join(' ')}`);

  const g = await GobgpdNode.start({ lab, ns: n0.ns, asn: n0.asn, routerId: n0.ip, peer: routers.map((r) => ({ address: r.ip, asn: r.asn })) });
  cleanup.push(() => g.stop());
  await g.announce(VIP, n0.ip);
  for (const r of [frr1, frr2, bird]) {
    const route = await waitFor(`VIP in ${r === bird ? 'bird' : 'an FRR'} FIB`, async () => {
      const k = await r.kernelRoute(VIP);
      return k && k.nexthops.length ? k : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    assert.deepEqual(gateways(route), [n0.ip]);
  }
  assert.deepEqual((await frr1.bgpSummary()).map((p) => p.state), ['Established']);
  assert.deepEqual((await frr2.bgpSummary()).map((p) => p.state), ['Established']);
  assert.deepEqual((await bird.bgpSummary()).map((p) => p.bgp?.state), ['Established']);
  // stopping one leaves the others running: exactly its own daemons go
  await frr1.stop();
  for (const pid of frr1.daemonPids.values()) assert.equal(processAlive(pid), false, `frr1 pid ${pid}`);
  for (const pid of [...frr2.daemonPids.values(), bird.pid!]) assert.equal(processAlive(pid), true, `pid ${pid}`);
  assert.deepEqual((await frr2.bgpSummary()).map((p) => p.state), ['Established']);
  t.diagnostic(`three routers + one node, all routes in: ${Date.now() - t0} ms`);
});
