/**
 * Lab agents as processes: find an agent's gobgpd child, kill an agent (alone, or with its
 * gobgpd, as a node loss or container crash does), start it again, wait until it is ready.
 */
import { run } from '../src/exec/run.js';
import { childPids, processAlive } from '../src/util/process.js';
import { waitFor } from '../src/util/wait.js';
import { anyLabRouter, nodeAddress, startAgents, type LabAgent } from './agents.js';
import { FrrRouter } from '../test/rig/frr-router.js';
import type { LabRouter, RunningLab } from './run.js';

/** The gobgpd the agent runs as its child (undefined while it has none). */
export function gobgpdPid(agent: LabAgent): number | undefined {
  // The binary is the pinned one, `gobgpd-vX.Y.Z` (or an override named gobgpd).
  return agent.proc.pid === undefined ? undefined : childPids(agent.proc.pid, /^gobgpd/)[0];
}

export interface Killed {
  agentPid: number;
  gobgpdPid: number | undefined;
  /** Date.now() right after the signals were sent. */
  at: number;
}

/**
 * Signal an agent. `withGobgpd`: SIGKILL its gobgpd too, right after the agent (a node or
 * container lost: nothing gets to withdraw). Resolves once the processes are gone.
 */
export async function killAgent(agent: LabAgent, signal: 'SIGTERM' | 'SIGKILL', opts: { withGobgpd?: boolean } = {}): Promise<Killed> {
  const agentPid = agent.proc.pid;
  if (agentPid === undefined) throw new Error(`${agent.node}: agent has no PID`);
  const gobgpd = gobgpdPid(agent);
  if (opts.withGobgpd && gobgpd === undefined) throw new Error(`${agent.node}: agent ${agentPid} has no gobgpd child`);
  process.kill(agentPid, signal);
  if (opts.withGobgpd) process.kill(gobgpd!, 'SIGKILL');
  const at = Date.now();
  await agent.proc;
  // A SIGTERMed agent stops its gobgpd itself; a killed one leaves it to whoever killed it.
  if (gobgpd !== undefined && (opts.withGobgpd || signal === 'SIGTERM')) {
    await waitFor(`${agent.node}: gobgpd ${gobgpd} gone`, () => (processAlive(gobgpd) ? undefined : true), { timeoutMs: 15_000, intervalMs: 20 });
  }
  return { agentPid, gobgpdPid: gobgpd, at };
}

/** Start the agent of `node` again (same flags, log appended). */
export async function startAgent(l: RunningLab, node: string, dir: string): Promise<LabAgent> {
  const [a] = await startAgents(l, { dir, nodes: [node] });
  if (!a) throw new Error(`no lab node ${node}`);
  return a;
}

/** Until the agent's /readyz answers 200: its first pass (data plane and BGP) succeeded. */
export async function waitAgentReady(l: RunningLab, node: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${node}: agent ready`,
    async () => ((await run(['curl', '-sf', '--max-time', '1', 'http://127.0.0.1:9254/readyz'], { netns: l.lab.ns(node), allowFailure: true })).exitCode === 0 ? true : undefined),
    { timeoutMs, intervalMs: 200 },
  );
}

/** The lab address of a node (its next hop at the router). */
/** Teardown: SIGKILL every agent and its gobgpd (a process already gone is fine). */
export function killAgentsNow(agents: Iterable<LabAgent>): void {
  for (const a of agents) {
    const g = gobgpdPid(a);
    a.proc.kill('SIGKILL');
    if (g === undefined) continue;
    try {
      process.kill(g, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/**
 * Until the router holds an established BGP session with BFD up to each of `nodes`. In a new
 * lab this is later than the first routes: with FRR 8.4 each node's first session is reset
 * once when FRR re-creates its BFD session (README, known limits); BFD up at the router means
 * the session that stays. BIRD: its BGP protocols Established and BFD sessions Up.
 */
export async function waitRouterSessions(l: RunningLab, nodes: readonly string[], timeoutMs = 60_000): Promise<void> {
  const r = anyLabRouter(l);
  const want = nodes.map((n) => nodeAddress(l, n));
  await waitFor(
    `router: BGP established and BFD up to ${nodes.join(', ')}`,
    async () => {
      const { bgp, bfd } = await routerSessions(r);
      return want.every((a) => bgp.has(a) && bfd.has(a)) ? true : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** The node addresses the router has an Established BGP session with, and those with BFD up. */
export async function routerSessions(r: LabRouter): Promise<{ bgp: Set<string>; bfd: Set<string> }> {
  if (r instanceof FrrRouter) {
    const bgp = new Set((await r.bgpSummary()).filter((p) => p.state === 'Established').map((p) => p.address));
    // Bound to an interface: the BFD session FRR keeps (the first, without one, is replaced).
    const bfd = new Set((await r.bfdPeers()).filter((p) => p.status === 'up' && p.interface).map((p) => p.peer));
    return { bgp, bfd };
  }
  const bgp = new Set((await r.bgpSummary()).filter((p) => p.bgp?.state === 'Established' && p.bgp.neighborAddress).map((p) => p.bgp!.neighborAddress!));
  const bfd = new Set((await r.bfdSessions()).filter((s) => s.state === 'Up').map((s) => s.address));
  return { bgp, bfd };
}

/**
 * Session resets the router sees, counted from the router itself while `watch` runs: FRR's
 * own per-neighbour counter (`show bgp neighbors json` connectionsDropped, read at the end
 * against the start); BIRD keeps none, so its BGP protocols are polled every `everyMs` and a
 * protocol that is not Established, or whose "since" changed, counts one reset (a session
 * cannot close and come back within one poll: idle hold and connect take ≥ 1 s).
 */
export async function watchRouterResets(r: LabRouter, everyMs = 250): Promise<{ stop(): Promise<Record<string, number>> }> {
  if (r instanceof FrrRouter) {
    const read = async () => {
      const j = JSON.parse((await r.vtysh('show bgp neighbors json')) ?? '{}') as Record<string, { connectionsDropped?: number }>;
      return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, v.connectionsDropped ?? 0]));
    };
    const start = await read();
    return {
      stop: async () => {
        const end = await read();
        return Object.fromEntries(Object.entries(end).map(([k, v]) => [k, v - (start[k] ?? 0)]));
      },
    };
  }
  const read = async () =>
    new Map((await r.bgpSummary()).map((p) => [p.bgp?.neighborAddress ?? p.name, p.bgp?.state === 'Established' ? `up ${p.since}` : 'down'] as const));
  let last = await read();
  const resets: Record<string, number> = Object.fromEntries([...last.keys()].map((k) => [k, 0]));
  let on = true;
  const loop = (async () => {
    const down = new Set<string>();
    while (on) {
      await new Promise((res) => setTimeout(res, everyMs));
      const now = await read();
      for (const [k, v] of now) {
        const was = last.get(k);
        if (v === 'down') {
          if (!down.has(k)) resets[k] = (resets[k] ?? 0) + 1;
          down.add(k);
        } else {
          if (was !== undefined && was !== v && !down.has(k)) resets[k] = (resets[k] ?? 0) + 1;
          down.delete(k);
        }
      }
      last = now;
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return resets;
    },
  };
}

/**
 * Run `restart` (something on the router) and read the router back to back until every node
 * in `all` has its session Established there and its next hop for `vip` in the router's
 * kernel FIB. `backMs`: restart → that; `outageMs`: the longest stretch the FIB had no route
 * to the VIP at all. Undefined `backMs` when not back within `timeoutMs`.
 */
export async function timeRouterRestart(
  l: RunningLab,
  vip: string,
  all: readonly string[],
  restart: () => Promise<void>,
  timeoutMs = 60_000,
): Promise<{ backMs?: number; outageMs: number }> {
  const r = anyLabRouter(l);
  let zeroFrom: number | undefined;
  let outageMs = 0;
  const t0 = performance.now();
  const restarting = restart();
  let backMs: number | undefined;
  while (backMs === undefined && performance.now() - t0 < timeoutMs) {
    const nh = await routerNexthopsOf(r, vip);
    const now = performance.now();
    if (nh.length === 0) zeroFrom ??= now;
    else if (zeroFrom !== undefined) {
      outageMs = Math.max(outageMs, now - zeroFrom);
      zeroFrom = undefined;
    }
    // Not before the restart has begun to bite (the kill itself takes a few ms).
    if (nh.length === all.length && now - t0 > 300) {
      const { bgp } = await routerSessions(r).catch(() => ({ bgp: new Set<string>() }));
      if (all.every((a) => bgp.has(a))) backMs = performance.now() - t0;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  if (zeroFrom !== undefined) outageMs = Math.max(outageMs, performance.now() - zeroFrom);
  await restarting;
  return { ...(backMs !== undefined ? { backMs: Math.round(backMs) } : {}), outageMs: Math.round(outageMs) };
}

async function routerNexthopsOf(r: LabRouter, vip: string): Promise<string[]> {
  const route = await r.kernelRoute(`${vip}/32`).catch(() => undefined);
  return (route?.nexthops ?? []).map((n) => n.gateway ?? '').filter(Boolean);
}
