/**
 * Weighted ECMP in the lab: pools with and without `bgp.weightedEcmp`, a Local Service with
 * pods spread unevenly over two nodes, the router's next-hop weights (zebra's RIB through the
 * FRR JSON parser), many client connections through the router counted per node, and a watch
 * that records every FIB state and every UPDATE the router receives while endpoints change.
 *
 * `measureWeightedSplit` is the whole 3:1 measurement, shared by test/e2e/weighted.test.ts
 * and the lab benchmark (`weighted_split_pct`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { parseFrrUpdateLog, type FrrUpdateEvent } from '../test/rig/parsers/frr-json.js';
import { sleep, waitFor } from '../src/util/wait.js';
import { connect, createLbService, labRouter, nodeAddress, waitForIp, waitNexthops, waitReachable } from './agents.js';
import type { LabPod } from './pods.js';
import type { RunningLab } from './run.js';

/** Next hop → weight of the VIP's selected route in zebra's RIB (`show ip route VIP/32 json`); {} when absent. */
export async function routerWeights(l: RunningLab, vip: string): Promise<Record<string, number>> {
  const routes = await labRouter(l).routes(`${vip}/32`);
  const r = routes.find((x) => x.selected && x.protocol === 'bgp');
  const out: Record<string, number> = {};
  for (const n of r?.nexthops ?? []) if (n.ip && n.fib) out[n.ip] = n.weight;
  return out;
}

/** Next hop → weight in the router's kernel FIB (`ip -j route`; weight 1 when printed without one). */
export async function kernelWeights(l: RunningLab, vip: string): Promise<Record<string, number>> {
  const route = await labRouter(l).kernelRoute(`${vip}/32`);
  const out: Record<string, number> = {};
  for (const n of route?.nexthops ?? []) if (n.gateway) out[n.gateway] = n.weight ?? 1;
  return out;
}

/**
 * Wait until the router's weights for the VIP satisfy `ok` (e.g. a ratio) both in zebra's RIB
 * and in the kernel FIB, which is what forwards the client's connections (zebra's view can be
 * ahead of the kernel's); returns the RIB weights.
 */
export function waitWeights(l: RunningLab, vip: string, what: string, ok: (w: Record<string, number>) => boolean, timeoutMs = 30_000): Promise<Record<string, number>> {
  return waitFor(`router weights for ${vip} (RIB and kernel FIB): ${what}`, async () => {
    const rib = await routerWeights(l, vip);
    return ok(rib) && ok(await kernelWeights(l, vip)) ? rib : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/**
 * Answers ("pod clientIP" → count) → answers per node, by the pods' nodes. Pure. Answers from
 * no known pod count under their own key ("no answer" stays "no answer").
 */
export function answersByNode(answers: Readonly<Record<string, number>>, podNode: (pod: string) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(answers)) {
    const node = podNode(k.split(' ')[0]!) ?? k;
    out[node] = (out[node] ?? 0) + n;
  }
  return out;
}

/**
 * `count` TCP connections from the client to VIP:port, `concurrency` at a time, each a real
 * socat through the router (as `connect` makes them). A connection that gets no answer is
 * tried again, up to `retries` times, as a client would: each try is a new connection (new
 * source port), so the router hashes it afresh. Answers are counted as `connect` counts them;
 * `retried` says how many tries were repeats.
 */
export async function connectMany(
  l: RunningLab,
  vip: string,
  port: number,
  count: number,
  opts: { concurrency?: number; retries?: number } = {},
): Promise<{ answers: Record<string, number>; retried: number }> {
  const answers: Record<string, number> = {};
  let retried = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      let answer = 'no answer';
      for (let attempt = 0; attempt <= (opts.retries ?? 0) && answer === 'no answer'; attempt++) {
        if (attempt > 0) retried++;
        answer = Object.keys(await connect(l, vip, port, 1))[0] ?? 'no answer';
      }
      answers[answer] = (answers[answer] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, count)) }, worker));
  return { answers, retried };
}

export interface FibState {
  /** ms since the watch started. */
  atMs: number;
  /** Next hop → kernel weight. */
  weights: Record<string, number>;
}

export interface RouteWatch {
  /** Stop polling; every distinct FIB state seen, in order, and the UPDATEs about the VIP received meanwhile. */
  stop(): Promise<{ states: FibState[]; polls: number; updates: FrrUpdateEvent[] }>;
}

/**
 * Watch the VIP on the router: poll its kernel FIB route as fast as `ip route` answers, and
 * log bgpd's received UPDATEs (`debug bgp updates in`, turned on here, off again at stop) so
 * a withdrawal shows even if it was too brief for a poll to see.
 */
export async function watchRoute(l: RunningLab, vip: string): Promise<RouteWatch> {
  const router = labRouter(l);
  const logFile = join(router.dir, 'frr.log');
  const logStart = existsSync(logFile) ? readFileSync(logFile).length : 0;
  await router.vtysh('debug bgp updates in');
  const t0 = Date.now();
  const states: FibState[] = [];
  let polls = 0;
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const weights = await kernelWeights(l, vip);
      polls++;
      const last = states[states.length - 1];
      if (!last || JSON.stringify(last.weights) !== JSON.stringify(weights)) states.push({ atMs: Date.now() - t0, weights });
      await sleep(10);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      await router.vtysh('no debug bgp updates in');
      const text = existsSync(logFile) ? readFileSync(logFile).subarray(logStart).toString('utf8') : '';
      return { states, polls, updates: parseFrrUpdateLog(text).filter((e) => e.prefix === `${vip}/32`) };
    },
  };
}

export interface WeightedSplitOptions {
  namespace?: string;
  name?: string;
  port?: number;
  /** Pool to allocate from (annotation); default: any auto-assign pool. */
  pool?: string;
  nodeA?: string;
  nodeB?: string;
  podsA?: number;
  podsB?: number;
  connections?: number;
  /**
   * Connections in flight at once (default 1). Measured in the lab on 2 shared cores: 400
   * sequential connections take about 15 s, 8 at a time 7-11 s; with several in flight the
   * single pod's socat responder (fork per connection) now and then drops one under load.
   */
  concurrency?: number;
}

export interface WeightedSplit {
  service: V1Service;
  vip: string;
  pods: { a: LabPod[]; b: LabPod[] };
  /** Router RIB weights by node name. */
  weights: Record<string, number>;
  /** Answers per node ("no answer" included when some connections got none after their retries). */
  answers: Record<string, number>;
  /** Connections tried again after getting no answer (the lab's responders fork per connection; a loaded machine drops a rare one). */
  retried: number;
  /** Node A's share of the answered connections, in percent. */
  sharePct: number;
  connections: number;
  /** Time taken by the connections alone (the last, counted measurement). */
  connectMs: number;
  /** Measurements thrown away because a BGP session of the router was reset while they ran. */
  discarded: { sessionResets: Record<string, number>; answers: Record<string, number> }[];
}

/**
 * Neighbour address → sessions the router has established with it so far (`show bgp
 * neighbors json`'s connectionsEstablished): a change between two reads means the session
 * was reset in between, and the node's routes were withdrawn for a while.
 */
export async function routerSessionCounts(l: RunningLab): Promise<Record<string, number>> {
  const raw = await labRouter(l).vtysh('show bgp neighbors json');
  const out: Record<string, number> = {};
  for (const [addr, n] of Object.entries(JSON.parse(raw ?? '{}') as Record<string, { connectionsEstablished?: number }>)) {
    if (typeof n?.connectionsEstablished === 'number') out[addr] = n.connectionsEstablished;
  }
  return out;
}

/** The sessions established between two reads of routerSessionCounts, by neighbour (only `of`, when given). */
export function sessionResets(before: Record<string, number>, after: Record<string, number>, of?: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [addr, n] of Object.entries(after)) {
    if (of && !of.includes(addr)) continue;
    if (n !== (before[addr] ?? 0)) out[addr] = n - (before[addr] ?? 0);
  }
  return out;
}

/**
 * The 3:1 case: a Local Service with `podsA` ready pods on node A and `podsB` on node B (from
 * a pool with weighted ECMP on), waits for the router's weights to reach podsA:podsB, then
 * makes `connections` client connections through the router and returns node A's share.
 * Needs the lab's agents running.
 */
export async function measureWeightedSplit(l: RunningLab, o: WeightedSplitOptions = {}): Promise<WeightedSplit> {
  const ns = o.namespace ?? 'weighted';
  const name = o.name ?? 'split';
  const port = o.port ?? 8080;
  const nodeA = o.nodeA ?? 'node1';
  const nodeB = o.nodeB ?? 'node2';
  const podsA = o.podsA ?? 3;
  const podsB = o.podsB ?? 1;
  const connections = o.connections ?? 400;
  const service = await createLbService(l, ns, name, 'Local', port, 'TCP', o.pool ? { pool: o.pool } : {});
  const a = await l.cluster.addPods(nodeA, podsA, port);
  const b = await l.cluster.addPods(nodeB, podsB, port);
  await l.cluster.setEndpoints(service, [...a, ...b]);
  const vip = await waitForIp(l, ns, name);
  const [addrA, addrB] = [nodeAddress(l, nodeA), nodeAddress(l, nodeB)];
  await waitNexthops(l, vip, [addrA, addrB]);
  const want = podsA / podsB;
  const atRatio = (x: Record<string, number>) => x[addrA] !== undefined && x[addrB] !== undefined && Math.abs(x[addrA]! / x[addrB]! - want) < 0.1 * want;
  const w = await waitWeights(l, vip, `${podsA}:${podsB}`, atRatio);
  await waitReachable(l, vip, port);
  // A measurement counts only if neither node's router session was reset while it ran: FRR 8.4 resets
  // each node's first session once, seconds after it came up (README, known limits), and the
  // node's routes are gone meanwhile, so its share would say nothing about the weights.
  const discarded: WeightedSplit['discarded'] = [];
  for (;;) {
    const before = await routerSessionCounts(l);
    const started = Date.now();
    const raw = await connectMany(l, vip, port, connections, { concurrency: o.concurrency ?? 1, retries: 2 });
    const connectMs = Date.now() - started;
    const answers = answersByNode(raw.answers, (pod) => l.cluster.pods.get(pod)?.node);
    const resets = sessionResets(before, await routerSessionCounts(l), [addrA, addrB]);
    if (Object.keys(resets).length > 0 && discarded.length < MAX_DISCARDED) {
      discarded.push({ sessionResets: resets, answers });
      await waitWeights(l, vip, `${podsA}:${podsB} again`, atRatio);
      continue;
    }
    const answered = (answers[nodeA] ?? 0) + (answers[nodeB] ?? 0);
    return {
      service,
      vip,
      pods: { a, b },
      weights: { [nodeA]: w[addrA]!, [nodeB]: w[addrB]! },
      answers,
      sharePct: answered ? (100 * (answers[nodeA] ?? 0)) / answered : 0,
      connections,
      retried: raw.retried,
      connectMs,
      discarded,
    };
  }
}

/** Measurements measureWeightedSplit may throw away for a session reset before it counts one anyway. */
const MAX_DISCARDED = 2;

/** The lab benchmark's `weighted_split_pct`: node A's share (%, one decimal) in the 3:1 case. */
export async function weightedSplitPct(l: RunningLab, o: WeightedSplitOptions = {}): Promise<number> {
  return Math.round((await measureWeightedSplit(l, o)).sharePct * 10) / 10;
}
