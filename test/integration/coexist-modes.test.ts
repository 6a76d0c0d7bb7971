/**
 * bgpvs beside a CNI's BGP speaker, for real: FRR or BIRD as the upstream router, BIRD or FRR
 * in the node namespace as the CNI's speaker (eBGP from the node address, announcing the pod
 * CIDR, as Calico runs BIRD), gobgpd as bgpvs's speaker, and for delegate the real `bgpvs
 * agent` against the real API server. In each mode both the node's pod CIDR and bgpvs's VIP
 * reach the router's FIB, and no BGP session changes state during a watch of WATCH_MS
 * (60 s), counted from the routers' side: FRR's connectionsEstablished/Dropped, BIRD's logged
 * state changes (`debug protocols { states }`). The modes run in parallel namespaces, so
 * their watches overlap and the file takes about one setup plus one watch.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { frrSkipReason, type FrrRouter } from '../rig/frr-router.js';
import { birdSkipReason } from '../rig/bird-router.js';
import { run } from '../../src/exec/run.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import type { Advertisement } from '../../src/model/types.js';
import { CoexistLab, cniBirdConfig, frrNodeSpeakerLines, routerBirdConfig, CNI_ASN, NODE, NODE_ALT, POD_CIDR, ROUTER, ROUTER_ASN, VIP } from '../rig/coexist-lab.js';
import { CoexistCluster } from '../rig/coexist-k8s.js';

const skip = frrSkipReason() ?? birdSkipReason();
const WATCH_MS = Number(process.env.COEXIST_WATCH_MS ?? 60_000);
const VIP_RANGE = '10.100.0.0/24';
const ad: Advertisement = { prefix: VIP, family: 'IPv4', services: ['d/w'], communities: [], largeCommunities: [], localReadyEndpoints: 1, weighted: false };
const script = fileURLToPath(new URL('../rig/coexist-check.ts', import.meta.url));

/** One BGP session as a router sees it: its state and a count that moves on any change. */
interface SessionView {
  state: string;
  changes: number;
  detail: string;
}
type Sessions = () => Promise<Map<string, SessionView>>;

/** FRR's sessions: established + dropped connection counters. */
function frrSessions(frr: FrrRouter, label: string): Sessions {
  return async () =>
    new Map(
      (await frr.bgpSummary()).map((p) => [
        `${label} ${p.address}`,
        { state: p.state, changes: (p.connectionsEstablished ?? 0) + (p.connectionsDropped ?? 0), detail: `established ${p.connectionsEstablished}, dropped ${p.connectionsDropped}` },
      ]),
    );
}

/** BIRD's sessions: state changes in its log, and `show protocols` state. */
function birdSessions(c: CoexistLab, label: string, socket: string, logFile: string, protocols: readonly string[]): Sessions {
  return async () => {
    const out = new Map<string, SessionView>();
    for (const name of protocols) {
      const p = await c.birdProtocol(name, socket);
      const n = c.birdStateChanges(logFile, name);
      out.set(`${label} ${name}`, { state: p.state, changes: n, detail: `${n} state changes logged, since ${p.since}` });
    }
    return out;
  };
}

/** Watch `ms`: every session Established before and after, and its change count unchanged. */
async function watchNoFlaps(sources: readonly Sessions[], ms: number, t: { diagnostic(s: string): void }, ignore: ReadonlySet<string> = new Set()): Promise<void> {
  const read = async () => new Map((await Promise.all(sources.map((s) => s()))).flatMap((m) => [...m]));
  const before = await read();
  const t0 = Date.now();
  await sleep(ms);
  const after = await read();
  const took = Date.now() - t0;
  for (const [name, b] of before) {
    if (ignore.has(name)) continue;
    const a = after.get(name);
    t.diagnostic(`session ${name}: ${b.state} → ${a?.state}; ${b.detail} → ${a?.detail} over ${took} ms`);
    assert.equal(b.state, 'Established', `${name} Established when the watch began`);
    assert.equal(a?.state, 'Established', `${name} still Established`);
    assert.equal(a?.changes, b.changes, `${name} did not change state during the watch`);
  }
}

async function check(c: CoexistLab, input: object): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return c.lab.exec('n0', ['node', '--import', 'tsx', script, JSON.stringify(input)], { allowFailure: true });
}

/** TCP connections established in namespace `ns` with port 179 or `port` on either end. */
async function bgpConnections(c: CoexistLab, ns: string, port = 179): Promise<string[]> {
  const r = await c.lab.exec(ns, ['ss', '-Htn', 'state', 'established', `( sport = :179 or dport = :179 or sport = :${port} or dport = :${port} )`]);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).slice(-2).join(' '));
}

describe('bgpvs beside a CNI BGP speaker: every mode in its own namespaces, watched at the same time', { skip, concurrency: true }, () => {
  test('dedicated, own source address: gobgpd peers from a second node address, never listens on 179; the router holds two sessions and both routes', { timeout: 300_000 }, async (t) => {
    const c = await CoexistLab.create('coexded', [
      { address: NODE, asn: CNI_ASN },
      { address: NODE_ALT, asn: 65002 },
    ]);
    t.after(() => c.destroy());
    await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log` }));
    await c.waitEstablished([NODE]);

    // The start-up check in the node namespace accepts this (BIRD found, but a distinct source address).
    const peers = [{ address: ROUTER, port: 179, sourceAddress: NODE_ALT }];
    const ok = await check(c, { mode: 'dedicated', nodeAddress: NODE, peers, allowWriteCniConfig: false });
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /listening on 0\.0\.0\.0:179; every peer uses its own source address/);

    const speaker = await c.startGobgpd({
      asn: 65002,
      routerId: NODE_ALT,
      listenPort: -1,
      nextHops: { IPv4: NODE },
      peers: [{ address: ROUTER, asn: ROUTER_ASN, sourceAddress: NODE_ALT, families: ['IPv4'], connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }],
      exportCidrs: [VIP_RANGE],
    });
    await c.waitEstablished([NODE, NODE_ALT]);
    await speaker.setAdvertisements([ad]);
    assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
    assert.deepEqual(await c.routerGateways(VIP), [NODE]);
    const listen = await c.lab.exec('n0', ['ss', '-Hltn', 'sport = :179']);
    assert.equal(listen.stdout.trim().split('\n').filter(Boolean).length, 1, `only BIRD listens on 179:\n${listen.stdout}`);
    await watchNoFlaps([frrSessions(c.frr, 'router')], WATCH_MS, t);
  });

  test('dedicated, router-side port: gobgpd peers from the node address itself to port 1790 of a BIRD router, which tells the two sessions apart by port', { timeout: 300_000 }, async (t) => {
    const c = await CoexistLab.create('coexport', null);
    t.after(() => c.destroy());
    const router = await c.startRouterBird(routerBirdConfig({ logFile: `${c.dir}/router-bird.log`, bgpvsPort: 1790, bgpvsAsn: 65002 }));
    await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log` }));
    const routerUp = async (names: readonly string[]) =>
      waitFor(`router sessions ${names.join(', ')} Established`, async () => ((await Promise.all(names.map((n) => c.birdProtocol(n, router.socket)))).every((p) => p.state === 'Established') ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    await routerUp(['cni']);

    const peers = [{ address: ROUTER, port: 1790 }];
    const ok = await check(c, { mode: 'dedicated', nodeAddress: NODE, peers, allowWriteCniConfig: false });
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /every peer uses its own source address or router port/);

    const speaker = await c.startGobgpd({
      asn: 65002,
      routerId: NODE_ALT,
      listenPort: -1,
      nextHops: { IPv4: NODE },
      peers: [{ address: ROUTER, asn: ROUTER_ASN, port: 1790, sourceAddress: NODE, families: ['IPv4'], connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }],
      exportCidrs: [VIP_RANGE],
    });
    await routerUp(['cni', 'bgpvs']);
    await speaker.setAdvertisements([ad]);
    assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
    assert.deepEqual(await c.routerGateways(VIP), [NODE]);
    // Two sessions between the same two addresses, one per router port.
    const conns = (await bgpConnections(c, 'r', 1790)).sort();
    t.diagnostic(`router connections: ${conns.join('; ')}`);
    assert.equal(conns.length, 2, conns.join('; '));
    assert.ok(conns.some((l) => l.startsWith(`${ROUTER}:179 ${NODE}:`) || l.endsWith(`${NODE}:179`)), `a CNI session on 179: ${conns.join('; ')}`);
    assert.ok(conns.some((l) => l.startsWith(`${ROUTER}:1790 ${NODE}:`)), `bgpvs's session on router port 1790 from ${NODE}: ${conns.join('; ')}`);
    await watchNoFlaps([birdSessions(c, 'router', router.socket, router.logFile, ['cni', 'bgpvs'])], WATCH_MS, t);
  });

  test('via-local-speaker, BIRD: gobgpd peers over iBGP with the node BIRD, which re-advertises the VIP with the node address as next hop', { timeout: 300_000 }, async (t) => {
    const c = await CoexistLab.create('coexvia', [{ address: NODE, asn: CNI_ASN }]);
    t.after(() => c.destroy());
    const birdLog = `${c.dir}/bird.log`;
    await c.startCniBird(cniBirdConfig({ logFile: birdLog, bgpvsPeer: { address: NODE_ALT, vipRange: VIP_RANGE } }));
    await c.waitEstablished([NODE]);

    // As the agent configures it: next hop the node address (BIRD's own; BIRD resolves it through protocol direct).
    const speaker = await startViaLocalSpeaker(c);
    await speaker.setAdvertisements([ad]);
    assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
    assert.deepEqual(await c.routerGateways(VIP, 60_000), [NODE], 'the VIP reaches the router through BIRD, next hop the node address');
    const paths = await c.frr.bgpPaths(VIP);
    t.diagnostic(`router paths for ${VIP}: ${JSON.stringify(paths.map((p) => ({ peer: p.peer, nexthop: p.nexthop, asPath: p.asPath })))}`);
    assert.ok(paths.every((p) => p.peer === NODE), 'learnt only from the BIRD session');
    await watchNoFlaps([frrSessions(c.frr, 'router'), birdSessions(c, 'node BIRD', c.birdSocket, birdLog, ['upstream', 'bgpvs'])], WATCH_MS, t);
  });

  test('via-local-speaker, FRR: gobgpd peers over iBGP with the node FRR (listen range, next hop set in and out, table-map), which re-advertises the VIP with the node address as next hop', { timeout: 300_000 }, async (t) => {
    const c = await CoexistLab.create('coexviaf', [{ address: NODE, asn: CNI_ASN }]);
    t.after(() => c.destroy());
    const node = await c.startCniFrr(frrNodeSpeakerLines({ asn: CNI_ASN, bgpvsAddress: NODE_ALT, router: ROUTER, vipRange: VIP_RANGE, inboundNextHop: ROUTER }));
    await c.waitEstablished([NODE]);
    assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
    // Why a listen range: FRR refuses bgpvs's address (one of the node's) as a configured neighbor.
    const refused = await run(['vtysh', '--vty_socket', node.dir, '-c', 'configure terminal', '-c', `router bgp ${CNI_ASN}`, '-c', `neighbor ${NODE_ALT} remote-as ${CNI_ASN}`], { allowFailure: true });
    assert.match(refused.stdout + refused.stderr, /Can not configure the local system as neighbor/);

    // As the agent configures it: next hop the node address (an address of the FRR's own node).
    const speaker = await startViaLocalSpeaker(c);
    await waitFor('node FRR: bgpvs session Established', async () => ((await node.bgpSummary()).find((p) => p.address === NODE_ALT)?.state === 'Established' ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await speaker.setAdvertisements([ad]);
    assert.deepEqual(await c.routerGateways(VIP, 60_000), [NODE], 'the VIP reaches the router through the node FRR, next hop the node address');
    const paths = await c.frr.bgpPaths(VIP);
    t.diagnostic(`router paths for ${VIP}: ${JSON.stringify(paths.map((p) => ({ peer: p.peer, nexthop: p.nexthop, asPath: p.asPath })))}`);
    assert.ok(paths.length > 0 && paths.every((p) => p.peer === NODE && p.nexthop === NODE), 'learnt only from the node FRR, next hop the node address');
    assert.deepEqual(await c.lab.exec('n0', ['ip', '-j', 'route', 'show', VIP]).then((r) => JSON.parse(r.stdout || '[]') as unknown[]), [], 'the node FRR keeps the VIP out of the node FIB');
    await watchNoFlaps([frrSessions(c.frr, 'router'), frrSessions(node, 'node FRR')], WATCH_MS, t);
  });

  test('delegate, real agent and API server: the agent refuses dedicated at start; in delegate it runs no BGP, programs nftables, and writes the pool into Calico\'s BGPConfiguration only when allowed', { timeout: 300_000 }, async (t) => {
    // The router also expects a session from bgpvs's configured peer source: it must never come up.
    const c = await CoexistLab.create('coexdlg', [
      { address: NODE, asn: CNI_ASN },
      { address: NODE_ALT, asn: 65002 },
    ]);
    t.after(() => c.destroy());
    const birdLog = `${c.dir}/bird.log`;
    await c.startCniBird(cniBirdConfig({ logFile: birdLog }));
    await c.waitEstablished([NODE]);
    const k = await CoexistCluster.start(c);
    t.after(() => k.stop());
    await k.createPool('pool', VIP_RANGE);
    // What dedicated mode would peer with (the router accepts it as AS 65002 from NODE_ALT); delegate must leave it alone.
    const bgpFlags = ['--bgp.asn=65002', `--bgp.peers=${JSON.stringify([{ address: ROUTER, asn: ROUTER_ASN, sourceAddress: NODE_ALT }])}`];

    // The start path refuses dedicated from the node address: BIRD on 179 and Calico's CRDs served.
    const refused = await run(k.agentArgv(['--bgp.coexistence=dedicated', `--bgp.peers=${JSON.stringify([{ address: ROUTER, asn: ROUTER_ASN }])}`]), {
      netns: c.lab.ns('n0'),
      allowFailure: true,
      timeoutMs: 120_000,
    });
    t.diagnostic(`agent refusal (exit ${refused.exitCode}): ${refused.stderr.trim()}`);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /coexistence mode "dedicated" refused: found a BGP speaker listening on 0\.0\.0\.0:179 and Calico BGP resources/);
    assert.match(refused.stderr, /"via-local-speaker".*"delegate"/);

    const inNft = (vip: string) =>
      waitFor(`${vip} in the node's nftables`, async () => ((await c.lab.exec('n0', ['nft', 'list', 'table', 'inet', 'bgpvs'], { allowFailure: true })).stdout.includes(vip) ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 250,
      });

    // Not allowed to write: delegate allocates and programs the Service and leaves Calico's configuration alone.
    const quietLog = `${c.dir}/agent-no-write.log`;
    const quiet = k.startAgent(c, ['--bgp.coexistence=delegate', '--log-level=debug', ...bgpFlags], quietLog);
    t.after(() => {
      quiet.kill('SIGKILL');
    });
    const vip = await k.createService('demo', 'web', 80);
    assert.ok(vip.startsWith('10.100.0.'), `IP ${vip} from the pool`);
    await inNft(vip);
    // A pass that carried the VIP ran to its end ("bgp" step included) without failures.
    await waitFor('a completed pass with the VIP', () => {
      const passes = readFileSync(quietLog, 'utf8').split('\n').filter((l) => l.includes('"msg":"node pass"')).map((l) => JSON.parse(l) as { advertisements: number; failures: number });
      return passes.some((p) => p.advertisements >= 1 && p.failures === 0) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(await k.calicoServiceLoadBalancerIPs(), undefined, 'without --bgp.allow-write-cni-config no BGPConfiguration is written');
    quiet.kill('SIGTERM');
    await quiet.catch(() => undefined);

    // Allowed: the pool CIDR lands in Calico's BGPConfiguration default.
    const agentLog = `${c.dir}/agent.log`;
    const agent = k.startAgent(c, ['--bgp.coexistence=delegate', '--bgp.allow-write-cni-config=true', ...bgpFlags], agentLog);
    t.after(() => {
      agent.kill('SIGKILL');
    });
    const cidrs = await waitFor('pool CIDR in Calico BGPConfiguration default', async () => {
      const ips = await k.calicoServiceLoadBalancerIPs();
      return ips?.length ? ips : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    assert.deepEqual(cidrs, [{ cidr: VIP_RANGE }]);
    await inNft(vip);
    // A pool added while the agent runs is written too (the agent follows IPPool objects).
    await k.createPool('pool2', '10.101.0.0/24');
    const both = await waitFor('second pool CIDR in Calico BGPConfiguration default', async () => {
      const ips = await k.calicoServiceLoadBalancerIPs();
      return ips && ips.length >= 2 ? ips : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.deepEqual(both, [{ cidr: VIP_RANGE }, { cidr: '10.101.0.0/24' }]);
    for (const log of [quietLog, agentLog]) assert.match(readFileSync(log, 'utf8'), /delegate mode: not running BGP/);
    // No gobgpd in the node namespace, and no connection from bgpvs's configured source to port 179.
    const pids = (await run(['ip', 'netns', 'pids', c.lab.ns('n0')])).stdout.split('\n').filter(Boolean);
    const comms = pids.map((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    });
    assert.ok(!comms.includes('gobgpd'), `no gobgpd in the node namespace: ${comms.join(', ')}`);
    // (The router itself keeps trying 10.0.0.21:179, where BIRD answers and refuses: local port 179, not counted.)
    const conns = await bgpConnections(c, 'n0');
    assert.deepEqual(conns.filter((l) => /^(\S+?)(%\S+)?:\d+ \S+:179$/.exec(l)?.[1] === NODE_ALT), [], `no connection from ${NODE_ALT} to a BGP port: ${conns.join('; ')}`);

    // Calico (played here: its renderer turns serviceLoadBalancerIPs into BIRD routes) advertises the pool.
    await c.reconfigureCniBird(cniBirdConfig({ logFile: birdLog, serviceCidrs: both.map((x) => x.cidr) }));
    assert.deepEqual(await c.routerGateways(POD_CIDR), [NODE]);
    assert.deepEqual(await c.routerGateways(VIP_RANGE), [NODE], 'the pool reaches the router through the CNI speaker');
    await watchNoFlaps([frrSessions(c.frr, 'router'), birdSessions(c, 'node BIRD', c.birdSocket, birdLog, ['upstream'])], WATCH_MS, t, new Set([`router ${NODE_ALT}`]));
    const never = (await c.frr.bgpSummary()).find((p) => p.address === NODE_ALT);
    t.diagnostic(`router session for bgpvs's configured source ${NODE_ALT}: ${never?.state}, established ${never?.connectionsEstablished}`);
    assert.notEqual(never?.state, 'Established');
    assert.equal(never?.connectionsEstablished ?? 0, 0, 'bgpvs never opened a BGP session');
  });

  test('detection: BIRD listening on 179 and mode dedicated from the node address to port 179 → refused, naming the listener and the fitting modes', { timeout: 120_000 }, async (t) => {
    const c = await CoexistLab.create('coexdet', [{ address: NODE, asn: CNI_ASN }]);
    t.after(() => c.destroy());
    await c.startCniBird(cniBirdConfig({ logFile: `${c.dir}/bird.log` }));
    await c.waitEstablished([NODE]);
    const res = await check(c, { mode: 'dedicated', nodeAddress: NODE, peers: [{ address: ROUTER, port: 179 }], allowWriteCniConfig: false });
    t.diagnostic(`refusal: ${res.stderr.trim()}`);
    assert.equal(res.exitCode, 1);
    assert.match(res.stderr, /coexistence mode "dedicated" refused: found a BGP speaker listening on 0\.0\.0\.0:179/);
    assert.match(res.stderr, /via-local-speaker/);
    assert.match(res.stderr, /delegate/);
  });
});

/**
 * bgpvs's side of via-local-speaker, as the agent sets it up: the start check passes, then
 * gobgpd peers over iBGP from NODE_ALT with the node speaker on NODE, next hop the node address.
 */
async function startViaLocalSpeaker(c: CoexistLab) {
  const ok = await check(c, { mode: 'via-local-speaker', nodeAddress: NODE, peers: [{ address: NODE, port: 179, sourceAddress: NODE_ALT }], allowWriteCniConfig: false });
  assert.equal(ok.exitCode, 0, ok.stderr);
  return c.startGobgpd({
    asn: CNI_ASN,
    routerId: NODE_ALT,
    listenPort: -1,
    nextHops: { IPv4: NODE },
    peers: [{ address: NODE, asn: CNI_ASN, sourceAddress: NODE_ALT, families: ['IPv4'], connectRetrySeconds: 1, idleHoldAfterResetSeconds: 1 }],
    exportCidrs: [VIP_RANGE],
  });
}
