/**
 * Keeps one gobgpd serving the speaker: spawns it as a child (gRPC on 127.0.0.1:<port>
 * only, inside the node's network namespace) or watches an external one (a sidecar). When
 * gobgpd dies or its API stream breaks, it restarts the child with backoff and re-applies
 * everything through `speaker.resync()`: global, policies, peers, the full path set.
 *
 * Peer state comes from WatchEvent and is kept for status and metrics.
 * `stop()` drains first (RFC 8326 GRACEFUL_SHUTDOWN, lowered local-pref), waits, withdraws,
 * then stops BGP and the child.
 *
 * A session guard (./session-guard.ts) watches every peer: a BFD peer whose session went
 * down is re-created in gobgpd at once (checked on the drop event itself), which clears the
 * stale reset gobgpd v4.8.0 queues while a restarted router is away; a reset loop or a BFD
 * session that does not come up while BGP is Established gets the same repair with a
 * Warning. Every repair counts in `bgpvs_bfd_repairs_total{peer,reason}`
 * (docs/gobgpd-bfd-restart.md).
 */
import type { Logger } from 'pino';
import type { ResultPromise } from 'execa';
import { spawnDaemon } from '../exec/run.js';
import { sleep } from '../util/wait.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { BgpvsError } from '../errors.js';
import type { EventWatch, GobgpApi, PeerEvent } from './gobgp-client.js';
import type { GobgpSpeaker } from './speaker.js';
import { afterRepair, DEFAULT_GUARD_POLICY, NEW_GUARD, observeState, repairDue, settle, type GuardPolicy, type PeerGuard, type RepairReason } from './session-guard.js';

export type GobgpdMode =
  | {
      mode: 'child';
      /** gobgpd binary (`toolPath('gobgpd')`). */
      binary: string;
      /** gRPC port on 127.0.0.1 inside `netns`. */
      grpcPort: number;
      /** Network namespace to run gobgpd in (tests, lab); default: this process's. */
      netns?: string;
      /** gobgpd's stdout/stderr. */
      logFile?: string;
      /** gRPC target to dial; default `127.0.0.1:<grpcPort>` (tests: a unix-socket bridge). */
      target?: string;
      /**
       * A gobgpd the caller already spawned (spawnGobgpd) while it prepared the first config, so
       * that its start-up overlaps the agent's: adopted by start(), restarted like any child.
       */
      child?: ResultPromise;
    }
  | { mode: 'external'; target: string };

export interface PeerStatus {
  address: string;
  asn: number;
  state: string;
  bfd?: string;
  /** ms since epoch of the last state change seen. */
  since: number;
}

export interface BgpMetricsSink {
  bgpSessionChanges: { inc(labels: { peer: string; state: string }): void };
  bgpSessionUp: { set(labels: { peer: string }, v: number): void; remove(labels: { peer: string }): void };
  bfdRepairs?: { inc(labels: { peer: string; reason: RepairReason }): void };
}

/** The session guard's policy and how often it reads BFD states (ListPeer); false: off. */
export type SessionGuardOptions = false | (Partial<GuardPolicy> & { intervalMs?: number });

export interface GobgpdSupervisorDeps {
  speaker: GobgpSpeaker;
  client: GobgpApi;
  gobgpd: GobgpdMode;
  logger: Logger;
  metrics?: BgpMetricsSink;
  /** How long `stop()` keeps announcing with GRACEFUL_SHUTDOWN before withdrawing. */
  drainMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How long to wait for gobgpd's API after a (re)start. */
  readyTimeoutMs?: number;
  /** Tells of every completed (re)apply: for status, tests and benchmarks. */
  onApplied?: (info: { restarts: number }) => void;
  spawn?: typeof spawnDaemon;
  /** Default: DEFAULT_GUARD_POLICY, checked every second. */
  sessionGuard?: SessionGuardOptions;
  /** Time and timers (the system clock by default; tests pass a manual one). */
  clock?: Clock;
}

/**
 * gobgpd's command line, under `setpriv --pdeathsig KILL` (util-linux, Essential in Debian):
 * gobgpd dies with the agent even when the agent is SIGKILLed, so a restarted agent never
 * finds an orphan holding its gRPC port and BGP sessions that it cannot supervise.
 */
export function gobgpdArgv(binary: string, grpcPort: number): string[] {
  return ['setpriv', '--pdeathsig', 'KILL', binary, '--api-hosts', `127.0.0.1:${grpcPort}`, '--pprof-disable', '--log-plain', '--log-level', 'info'];
}

/** Spawn gobgpd as a child (gobgpdArgv), in `netns` if given, its output to `logFile`. */
export function spawnGobgpd(g: { binary: string; grpcPort: number; netns?: string; logFile?: string }, spawn: typeof spawnDaemon = spawnDaemon): ResultPromise {
  return spawn(gobgpdArgv(g.binary, g.grpcPort), { ...(g.netns ? { netns: g.netns } : {}), ...(g.logFile ? { logFile: g.logFile } : {}) });
}

export class GobgpdSupervisor {
  private readonly d: GobgpdSupervisorDeps;
  private readonly log: Logger;
  private child: ResultPromise | undefined;
  private watch: EventWatch | undefined;
  private stopping = false;
  private recovering: Promise<void> | undefined;
  private backoffMs: number;
  private readonly peerStates = new Map<string, PeerStatus>();
  private restartCount = 0;
  /** Whether the caller's early child (GobgpdMode.child) was taken over. */
  private adopted = false;
  /** When everything was last applied successfully (ms since epoch); 0 = never. */
  private lastApplied = 0;
  private readonly guards = new Map<string, PeerGuard>();
  private guardTimer: NodeJS.Timeout | undefined;
  private guardRunning = false;
  /** A drop arrived during a pass: run another right after it. */
  private guardAgain = false;
  private readonly guardPolicy: GuardPolicy | undefined;
  private readonly clock: Clock;

  constructor(deps: GobgpdSupervisorDeps) {
    this.d = deps;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger.child({ component: 'gobgpd-supervisor' });
    this.backoffMs = deps.backoff?.initialMs ?? 200;
    this.guardPolicy = deps.sessionGuard === false ? undefined : { ...DEFAULT_GUARD_POLICY, ...deps.sessionGuard };
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /**
   * Peer states as last reported by WatchEvent, for the peers the speaker configures now: a
   * removed peer (or one that gobgpd holds for someone else) leaves status and the session gauge.
   */
  peers(): PeerStatus[] {
    this.pruneRemovedPeers();
    return [...this.peerStates.values()].sort((a, b) => (a.address < b.address ? -1 : 1));
  }

  /** Drops the states of peers the speaker no longer configures; returns those it does. */
  private pruneRemovedPeers(): Set<string> {
    const configured = new Set(this.d.speaker.peerAddresses());
    for (const addr of [...this.peerStates.keys()]) {
      if (configured.has(addr)) continue;
      this.peerStates.delete(addr);
      this.guards.delete(addr);
      this.d.metrics?.bgpSessionUp.remove({ peer: addr });
    }
    return configured;
  }

  /** Spawn (or reach) gobgpd, apply everything, start watching. */
  async start(): Promise<void> {
    this.stopping = false;
    if (this.d.gobgpd.mode === 'child') this.spawnChild();
    await this.applyAll();
    this.startGuard();
  }

  private startGuard(): void {
    if (!this.guardPolicy || this.guardTimer) return;
    const ms = (this.d.sessionGuard || undefined)?.intervalMs ?? 1000;
    this.guardTimer = setInterval(() => void this.checkSessions(), ms);
    this.guardTimer.unref();
  }

  private stopGuard(): void {
    clearInterval(this.guardTimer);
    this.guardTimer = undefined;
  }

  /**
   * One guard pass: BFD states from ListPeer, then every configured peer whose session is
   * stuck is re-created. Skipped while gobgpd is being recovered (that re-creates all).
   */
  async checkSessions(): Promise<void> {
    const policy = this.guardPolicy;
    if (!policy || this.recovering || this.stopping) return;
    if (this.guardRunning) {
      this.guardAgain = true;
      return;
    }
    this.guardRunning = true;
    this.guardAgain = false;
    try {
      const bfd = new Map<string, string | undefined>();
      for (const p of await this.d.client.listPeer()) {
        const addr = p.state?.neighbor_address || p.conf.neighbor_address;
        bfd.set(addr, p.state?.bfd_state?.session_state?.replace('BFD_SESSION_STATE_', '').toLowerCase());
      }
      for (const addr of this.pruneRemovedPeers()) {
        const st = this.peerStates.get(addr);
        if (!st) continue;
        const now = this.clock.now();
        const g = settle(this.guards.get(addr) ?? NEW_GUARD, now, policy);
        this.guards.set(addr, g);
        const reason = repairDue(g, { state: st.state, bfdEnabled: this.d.speaker.bfdEnabled(addr), bfd: bfd.get(addr) }, now, policy);
        if (!reason) continue;
        const fields = { peer: addr, reason, drops: g.drops.length, bfd: bfd.get(addr), repairs: g.repairs + 1 };
        if (reason === 'sessionDown') this.log.info(fields, 'bgp peer re-created in gobgpd while its session is down');
        else this.log.warn(fields, 'bgp peer re-created in gobgpd: session stuck');
        this.d.metrics?.bfdRepairs?.inc({ peer: addr, reason });
        this.guards.set(addr, afterRepair(g, now));
        await this.d.speaker.repairPeer(addr);
      }
    } catch (err) {
      this.log.error({ err }, 'session guard pass failed');
    } finally {
      this.guardRunning = false;
      if (this.guardAgain) setImmediate(() => void this.checkSessions());
    }
  }

  private spawnChild(): void {
    const g = this.d.gobgpd;
    if (g.mode !== 'child') return;
    // The caller's early child is adopted once; every later (re)start spawns a new one.
    const early = this.restartCount === 0 && !this.adopted ? g.child : undefined;
    this.adopted = true;
    const child = early ?? spawnGobgpd(g, this.d.spawn);
    this.child = child;
    this.log.info({ pid: child.pid, grpcPort: g.grpcPort, netns: g.netns }, 'gobgpd started');
    void child.then((res) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopping) return;
      this.log.warn({ pid: child.pid, exitCode: res.exitCode, signal: res.signal }, 'gobgpd exited; restarting');
      this.recover('gobgpd exited');
    });
  }

  private async applyAll(): Promise<void> {
    await this.d.client.waitReady(this.d.readyTimeoutMs ?? 15_000);
    this.startWatch();
    await this.d.speaker.resync();
    this.lastApplied = this.clock.now();
    this.d.onApplied?.({ restarts: this.restartCount });
  }

  private startWatch(): void {
    this.watch?.cancel();
    this.watch = this.d.client.watchPeerEvents(
      (ev) => this.onPeerEvent(ev),
      (err) => {
        if (this.stopping) return;
        this.log.warn({ err }, 'gobgpd event stream ended');
        this.recover('event stream ended');
      },
    );
  }

  private onPeerEvent(ev: PeerEvent): void {
    const st = ev.peer?.state;
    if (!st?.neighbor_address) return;
    if (!this.pruneRemovedPeers().has(st.neighbor_address)) return;
    const state = st.session_state.replace('SESSION_STATE_', '').toLowerCase();
    const prev = this.peerStates.get(st.neighbor_address);
    const bfd = st.bfd_state?.session_state?.replace('BFD_SESSION_STATE_', '').toLowerCase();
    const next: PeerStatus = { address: st.neighbor_address, asn: st.peer_asn, state, ...(bfd ? { bfd } : {}), since: prev?.state === state ? prev.since : this.clock.now() };
    this.peerStates.set(st.neighbor_address, next);
    if (this.guardPolicy) {
      this.guards.set(st.neighbor_address, observeState(this.guards.get(st.neighbor_address) ?? NEW_GUARD, state, this.clock.now(), this.guardPolicy));
      // A drop: re-create the peer now (sessionDown), before a queued reset can fire.
      if (prev?.state === 'established' && state !== 'established' && this.guardPolicy.repairOnDrop) setImmediate(() => void this.checkSessions());
    }
    if (prev?.state !== state) {
      this.d.metrics?.bgpSessionChanges.inc({ peer: st.neighbor_address, state });
      this.d.metrics?.bgpSessionUp.set({ peer: st.neighbor_address }, state === 'established' ? 1 : 0);
      const level = state === 'established' || prev?.state === 'established' ? 'info' : 'debug';
      this.log[level]({ peer: st.neighbor_address, state, prev: prev?.state, bfd }, 'bgp session state');
    }
  }

  /**
   * One recovery at a time: respawn if needed, back off, re-apply until it works. The backoff
   * grows with every failed attempt and across recoveries that follow each other within 30 s
   * (a crash loop); it starts over only after gobgpd served for 30 s.
   */
  private recover(why: string): void {
    if (this.recovering || this.stopping) return;
    if (this.clock.now() - this.lastApplied > 30_000) this.backoffMs = this.d.backoff?.initialMs ?? 200;
    this.recovering = (async () => {
      for (;;) {
        if (this.stopping) return;
        const wait = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, this.d.backoff?.maxMs ?? 10_000);
        await sleep(wait, this.clock);
        if (this.stopping) return;
        this.restartCount++;
        try {
          if (this.d.gobgpd.mode === 'child' && !this.child) this.spawnChild();
          for (const p of this.peerStates.values()) p.state = 'unknown';
          await this.applyAll();
          this.log.info({ why, restarts: this.restartCount }, 'gobgpd state re-applied');
          return;
        } catch (err) {
          this.log.error({ err, why }, 'gobgpd recovery failed; retrying');
        }
      }
    })().finally(() => {
      this.recovering = undefined;
    });
  }

  /** Resolves when no recovery is running (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.recovering) await this.recovering;
  }

  /** True when no recovery runs, or it ended within `ms`. */
  private async settledWithin(ms: number): Promise<boolean> {
    if (!this.recovering) return true;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<false>((resolve) => (timer = this.clock.setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.settled().then(() => true as const), timeout]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /**
   * Graceful shutdown: GRACEFUL_SHUTDOWN + lowered local-pref on every path, wait
   * `drainMs`, withdraw everything, stop BGP, stop the child. A recovery still failing after
   * `settleMs` (gobgpd will not come back) does not hold the shutdown: it is abandoned and
   * the child stopped without draining, and `stop()` reports that.
   */
  async stop(opts: { drainMs?: number; settleMs?: number } = {}): Promise<void> {
    const drainMs = opts.drainMs ?? this.d.drainMs ?? 0;
    const errors: unknown[] = [];
    this.stopGuard();
    if (!(await this.settledWithin(opts.settleMs ?? 5_000))) {
      this.stopping = true;
      this.watch?.cancel();
      this.watch = undefined;
      await this.killChild();
      this.d.client.close();
      throw new BgpvsError('gobgpd stop: gobgpd was still being recovered; stopped it without draining or withdrawing');
    }
    try {
      if (drainMs > 0) {
        await this.d.speaker.drain();
        this.log.info({ drainMs }, 'draining: graceful-shutdown community announced');
        await sleep(drainMs, this.clock);
      }
      await this.d.speaker.withdrawAll();
      this.log.info('all paths withdrawn');
    } catch (err) {
      errors.push(err);
    }
    this.stopping = true;
    this.watch?.cancel();
    this.watch = undefined;
    try {
      // Let the withdrawals leave before the sessions close.
      await sleep(200, this.clock);
      await this.d.client.stopBgp();
    } catch (err) {
      errors.push(err);
    }
    await this.killChild();
    this.d.client.close();
    if (errors.length) throw new BgpvsError(`gobgpd stop: ${errors.length} step(s) failed`, { cause: errors[0] });
  }

  /** Stop without draining or withdrawing (tests; a crash-like stop). */
  async kill(): Promise<void> {
    this.stopping = true;
    this.stopGuard();
    this.watch?.cancel();
    await this.killChild();
    this.d.client.close();
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill('SIGTERM');
    const timer = this.clock.setTimeout(() => child.kill('SIGKILL'), 3000);
    await child;
    this.clock.clearTimeout(timer);
    this.log.info({ pid: child.pid }, 'gobgpd stopped');
  }
}
