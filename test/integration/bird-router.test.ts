/**
 * BirdRouter smoke: real BIRD 2 in a router namespace, real gobgpd (v4) in node namespaces
 * on a bridge. One node → its /32 in the router's kernel FIB via the node and the session
 * Established in `birdc show protocols all`; two nodes → one ECMP route (`merge paths on`).
 * The birdc parsers run on the live output here; their unit tests use captures of these
 * runs (set BGPVS_CAPTURE=dir to write them again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BirdRouter, birdSkipReason, checkBirdConfig, renderBirdConfig } from '../rig/bird-router.js';
import { gateways } from '../rig/parsers/ip-route-json.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { GobgpdNode } from '../rig/gobgpd-node.js';
import { ROUTER, VIP, capture, node, routerTestSkipReason, teardown, topology } from '../rig/router-fixture.js';

const skip = routerTestSkipReason(birdSkipReason());

test('BirdRouter: gobgpd peers, its /32 lands in the router kernel FIB via the node', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await topology('bird1', 1);
  const cleanup = teardown(t, lab);
  const n0 = node(0);
  // a second, never-reached neighbor shows a session that is not Established
  const bird = await BirdRouter.start({
    lab,
    ns: 'r',
    config: { asn: 65000, routerId: ROUTER, neighbors: [{ address: n0.ip, asn: n0.asn, name: n0.name }, { address: '10.0.0.99', asn: 65099, name: 'ghost' }] },
  });
  cleanup.push(() => bird.stop());
  const tBird = Date.now();
  const gobgpd = await GobgpdNode.start({ lab, ns: n0.ns, asn: n0.asn, routerId: n0.ip, peer: { address: ROUTER, asn: 65000 } });
  cleanup.push(() => gobgpd.stop());
  await gobgpd.announce(VIP, n0.ip, ['community', '65535:0', 'large-community', '65011:4242:1']);
  const tAnnounce = Date.now();

  const route = await waitFor('VIP in the router kernel FIB', async () => {
    const r = await bird.kernelRoute(VIP);
    return r && r.nexthops.length > 0 ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  const tFib = Date.now();
  assert.deepEqual(gateways(route), [n0.ip]);
  assert.equal(route.protocol, 'bird');

  const peers = await bird.bgpSummary();
  assert.deepEqual(peers.map((p) => [p.name, p.bgp?.neighborAddress, p.bgp?.neighborAs, p.bgp?.state]), [
    [n0.name, n0.ip, n0.asn, 'Established'],
    ['ghost', '10.0.0.99', 65099, peers[1]?.bgp?.state],
  ]);
  assert.notEqual(peers[1]?.bgp?.state, 'Established');
  assert.deepEqual(peers[0]?.channels.map((c) => [c.name, c.state, c.routes?.imported]), [['ipv4', 'UP', 1]]);

  const routes = await bird.routes(VIP);
  assert.equal(routes.length, 1);
  assert.deepEqual(
    routes.map((r) => [r.prefix, r.protocol, r.primary, r.bgpNextHop, r.asPath, r.communities, r.largeCommunities]),
    [[VIP, n0.name, true, n0.ip, String(n0.asn), ['65535:0'], ['65011:4242:1']]],
  );
  capture('bird-protocols-1.txt', await bird.birdc('show protocols all'));
  capture('bird-route-gshut.txt', await bird.birdc(`show route ${VIP} all`));

  await gobgpd.withdraw(VIP);
  await waitFor('VIP withdrawn from the FIB', async () => ((await bird.kernelRoute(VIP)) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
  assert.deepEqual(await bird.routes(VIP), []);
  t.diagnostic(`bird start ${tBird - t0} ms (incl. netns); gobgpd up + announce ${tAnnounce - tBird} ms; announce → FIB ${tFib - tAnnounce} ms; total ${Date.now() - t0} ms`);
});

test('BirdRouter: two nodes announce the same /32 → one kernel route, two nexthops', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await topology('bird2', 2);
  const cleanup = teardown(t, lab);
  const nodes = [node(0), node(1)];
  const bird = await BirdRouter.start({ lab, ns: 'r', config: { asn: 65000, routerId: ROUTER, neighbors: nodes.map((n) => ({ address: n.ip, asn: n.asn, name: n.name })) } });
  cleanup.push(() => bird.stop());
  for (const n of nodes) {
    const g = await GobgpdNode.start({ lab, ns: n.ns, asn: n.asn, routerId: n.ip, peer: { address: ROUTER, asn: 65000 } });
    cleanup.push(() => g.stop());
    await g.announce(VIP, n.ip);
  }
  const tAnnounce = Date.now();
  const route = await waitFor('two nexthops in the FIB', async () => {
    const r = await bird.kernelRoute(VIP);
    return r && r.nexthops.length === 2 ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  const tFib = Date.now();
  assert.deepEqual(gateways(route), nodes.map((n) => n.ip));
  assert.deepEqual((await bird.bgpSummary()).map((p) => p.bgp?.state), ['Established', 'Established']);
  const routes = await bird.routes(VIP);
  assert.deepEqual(routes.map((r) => r.bgpNextHop).sort(), nodes.map((n) => n.ip));
  assert.equal(routes.filter((r) => r.primary).length, 1);
  capture('bird-protocols-2.txt', await bird.birdc('show protocols all'));
  capture('bird-route-ecmp.txt', await bird.birdc('show route all'));
  capture('ip-route-ecmp-bird.json', (await lab.exec('r', ['ip', '-j', 'route', 'show', VIP])).stdout);
  t.diagnostic(`announce → 2-nexthop FIB route ${tFib - tAnnounce} ms; total ${Date.now() - t0} ms`);
});

test('BirdRouter: BFD with gobgpd\'s native BFD; cutting the node\'s link drops the route within 1 s', { skip }, async (t) => {
  // two ports on the router's bridge, so cutting n0's link leaves br0 up: only BFD can notice
  const lab = await topology('birdbfd', 2);
  const cleanup = teardown(t, lab);
  const n0 = node(0);
  const bird = await BirdRouter.start({
    lab,
    ns: 'r',
    config: { asn: 65000, routerId: ROUTER, neighbors: [{ address: n0.ip, asn: n0.asn, name: n0.name, bfd: true }], bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
  });
  cleanup.push(() => bird.stop());
  const g = await GobgpdNode.start({ lab, ns: n0.ns, asn: n0.asn, routerId: n0.ip, peer: { address: ROUTER, asn: 65000 }, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } });
  cleanup.push(() => g.stop());
  await g.announce(VIP, n0.ip);
  await waitFor('steady: Established, BFD Up, route in the FIB for 1 s', async () => {
    const ok = async () =>
      (await bird.bgpSummary())[0]?.bgp?.state === 'Established' && (await bird.bfdSessions())[0]?.state === 'Up' && Boolean((await bird.kernelRoute(VIP))?.nexthops.length);
    if (!(await ok())) return undefined;
    await sleep(1000);
    return (await ok()) ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  const [s] = await bird.bfdSessions();
  assert.deepEqual([s?.protocol, s?.address, s?.interface, s?.state], ['bfd1', n0.ip, 'br0', 'Up']);
  capture('bird-bfd-up.txt', await bird.birdc('show bfd sessions'));
  const cut = Date.now();
  await lab.setLink(n0.ns, 'eth0', 'down');
  await waitFor('VIP gone from the FIB', async () => ((await bird.kernelRoute(VIP)) ? undefined : true), { timeoutMs: 10_000, intervalMs: 10 });
  const failover = Date.now() - cut;
  assert.ok(failover < 1000, `failover ${failover} ms`);
  const down = await waitFor('BFD Down', async () => {
    const ss = await bird.bfdSessions();
    return ss[0] && ss[0].state !== 'Up' ? ss[0] : undefined;
  }, { timeoutMs: 5000, intervalMs: 50 });
  capture('bird-bfd-down.txt', await bird.birdc('show bfd sessions'));
  capture('bird-protocols-bfd-down.txt', await bird.birdc('show protocols all'));
  assert.notEqual((await bird.bgpSummary())[0]?.bgp?.state, 'Established');
  t.diagnostic(`BFD failover (link cut → route gone from the router FIB): ${failover} ms; session now ${down.state}`);
});

test('renderBirdConfig: every option is accepted by the real bird (bird -p)', { skip: birdSkipReason() }, async () => {
  const conf = renderBirdConfig({
    asn: 65000,
    routerId: ROUTER,
    neighbors: [
      { address: '10.0.0.11', asn: 65011, name: 'node0', bfd: true, timers: { holdSeconds: 3, keepaliveSeconds: 1 }, connectRetrySeconds: 2 },
      { address: '10.0.0.12', asn: 65012, port: 1790, password: 's3cret', localAddress: '10.0.0.1', multihop: 2 },
    ],
    bfd: { interface: 'br*', minRxMs: 100, minTxMs: 100, multiplier: 3 },
    mergePaths: { limit: 8 },
  }, { logFile: '/tmp/bird-check.log' });
  assert.equal(await checkBirdConfig(conf), undefined);
  assert.match((await checkBirdConfig(conf.replace('router id', 'router idd'))) ?? '', /syntax error/);
});
