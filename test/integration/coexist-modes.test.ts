/**
 * bgpvs beside a CNI's BGP speaker (BIRD in the node namespace, as Calico runs it), for real:
 * FRR router, BIRD, gobgpd. In each mode both the node's pod CIDR (from BIRD) and bgpvs's VIP
 * reach the router's FIB, and no router session drops during the watch. The start-up check,
 * run inside the node namespace, refuses the setup that would clash with BIRD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { frrSkipReason } from '../../src/rig/frr-router.js';
import { birdSkipReason } from '../../src/rig/bird-router.js';
import { sleep } from '../../src/util/wait.js';
import type { Advertisement } from '../../src/model/types.js';
import { CoexistLab, cniBirdConfig, CNI_ASN, NODE, NODE_ALT, POD_CIDR, ROUTER, ROUTER_ASN, VIP } from './coexist-lab.js';

const skip = frrSkipReason() ?? birdSkipReason();
const WATCH_MS = Number(process.env.COEXIST_WATCH_MS ?? 60_000);
const ad: Advertisement = { prefix: VIP, family: 'IPv4', services: ['d/w'], communities: [], largeCommunities: [], localReadyEndpoints: 1, weighted: false };
const script = fileURLToPath(new URL('./coexist-check.ts', import.meta.url));

async function watchNoFlaps(c: CoexistLab, ms: number, t: { diagnostic(s: string): void }): Promise<void> {
  const before = await c.sessionCounters();
  await sleep(ms);
  const after = await c.sessionCounters();
  for (const [addr, b] of before) {
    const a = after.get(addr);
    t.diagnostic(`session ${addr}: ${a?.state}, established ${b.established}→${a?.established}, dropped ${b.dropped}→${a?.dropped} over ${ms} ms`);
    assert.equal(a?.state, 'Established', `${addr} still Established`);
    assert.equal(a?.dropped, b.dropped, `${addr} never dropped during the watch`);
    assert.equal(a?.established, b.established, `${addr} never re-established during the watch`);
  }
}

test('dedicated: gobgpd peers from a second node address, never listens on 179; the router holds two sessions and both routes', { skip, timeout: 180_000 }, async (t) => {
  const c = await CoexistLab.create('coexded', [
    { address: NODE, asn: CNI_ASN },
    { address: NODE_ALT, asn: 65002 },
  ]);
  t.after(() => c.destroy());
  await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log` }));
  await c.waitEstablished([NODE]);

  // The start-up check in the node namespace accepts this (BIRD found, but a distinct source address).
  const peers = [{ address: ROUTER, port: 179, sourceAddress: NODE_ALT }];
  const ok = await c.lab.exec('n0', ['node', '--import', 'tsx', script, JSON.stringify({ mode: 'dedicated', nodeAddress: NODE, peers, allowWriteCniConfig: false })], { allowFailure: true });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.match(ok.stdout, /listening on 0\.0\.0\.0:179; every peer uses its own source address/);

  const speaker = await c.startGobgpd({
    asn: 65002,
    routerId: NODE_ALT,
    listenPort: -1,
    nextHops: { IPv4: NODE },
    peers: [{ address: ROUTER, asn: ROUTER_ASN, sourceAddress: NODE_ALT, families: ['IPv4'], connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }],
    exportCidrs: ['10.100.0.0/24'],
  });
  await c.waitEstablished([NODE, NODE_ALT]);
  await speaker.setAdvertisements([ad]);
  assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
  assert.deepEqual(await c.routerGateways(VIP), [NODE]);
  const listen = await c.lab.exec('n0', ['ss', '-Hltn', 'sport = :179']);
  assert.equal(listen.stdout.trim().split('\n').filter(Boolean).length, 1, `only BIRD listens on 179:\n${listen.stdout}`);
  await watchNoFlaps(c, Math.min(WATCH_MS, 15_000), t);
});

test('via-local-speaker: gobgpd peers over iBGP with the node BIRD, which re-advertises the VIP with the node address as next hop; all sessions steady over the watch', { skip, timeout: 240_000 }, async (t) => {
  const c = await CoexistLab.create('coexvia', [{ address: NODE, asn: CNI_ASN }]);
  t.after(() => c.destroy());
  await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log`, bgpvsPeer: { address: NODE_ALT, vipRange: '10.100.0.0/24' } }));
  await c.waitEstablished([NODE]);

  const peers = [{ address: NODE, port: 179, sourceAddress: NODE_ALT }];
  const ok = await c.lab.exec('n0', ['node', '--import', 'tsx', script, JSON.stringify({ mode: 'via-local-speaker', nodeAddress: NODE, peers, allowWriteCniConfig: false })], { allowFailure: true });
  assert.equal(ok.exitCode, 0, ok.stderr);

  const speaker = await c.startGobgpd({
    asn: CNI_ASN,
    routerId: NODE_ALT,
    listenPort: -1,
    nextHops: { IPv4: NODE_ALT },
    peers: [{ address: NODE, asn: CNI_ASN, sourceAddress: NODE_ALT, families: ['IPv4'], connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }],
    exportCidrs: ['10.100.0.0/24'],
  });
  await speaker.setAdvertisements([ad]);
  assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
  assert.deepEqual(await c.routerGateways(VIP, 60_000), [NODE], 'the VIP reaches the router through BIRD, next hop the node address');
  const paths = await c.frr.bgpPaths(VIP);
  t.diagnostic(`router paths for ${VIP}: ${JSON.stringify(paths.map((p) => ({ peer: p.peer, nexthop: p.nexthop, asPath: p.asPath })))}`);
  assert.ok(paths.every((p) => p.peer === NODE), 'learnt only from the BIRD session');
  // Both sessions: router↔BIRD by FRR's counters, BIRD↔gobgpd by the time BIRD's protocol last changed.
  const ibgpBefore = await c.birdProtocol('bgpvs');
  await watchNoFlaps(c, WATCH_MS, t);
  const ibgpAfter = await c.birdProtocol('bgpvs');
  t.diagnostic(`BIRD↔gobgpd iBGP: ${ibgpAfter.state}, last change ${ibgpBefore.since} → ${ibgpAfter.since}`);
  assert.equal(ibgpAfter.state, 'Established');
  assert.equal(ibgpAfter.since, ibgpBefore.since, 'the iBGP session did not change state during the watch');
});

test('detection: BIRD listening on 179 and mode dedicated from the node address to port 179 → refused, naming the listener and the fitting modes', { skip, timeout: 120_000 }, async (t) => {
  const c = await CoexistLab.create('coexdet', [{ address: NODE, asn: CNI_ASN }]);
  t.after(() => c.destroy());
  await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log` }));
  await c.waitEstablished([NODE]);
  const input = { mode: 'dedicated', nodeAddress: NODE, peers: [{ address: ROUTER, port: 179 }], allowWriteCniConfig: false };
  const res = await c.lab.exec('n0', ['node', '--import', 'tsx', script, JSON.stringify(input)], { allowFailure: true });
  t.diagnostic(`refusal: ${res.stderr.trim()}`);
  assert.equal(res.exitCode, 1);
  assert.match(res.stderr, /coexistence mode "dedicated" refused: found a BGP speaker listening on 0\.0\.0\.0:179/);
  assert.match(res.stderr, /via-local-speaker/);
  assert.match(res.stderr, /delegate/);
});
