/**
 * Pure: when a BGP/BFD session to a peer needs the peer re-created in gobgpd.
 *
 * gobgpd v4.8.0 can keep a peer in a reset loop that only re-creating the peer ends
 * (docs/gobgpd-bfd-restart.md): a BFD Down seen while the BGP session is not Established
 * queues an administrative-reset NOTIFICATION in the peer's FSM, which fires the moment the
 * next session reaches Established. A router that starts a new BFD session (new
 * discriminator) for every BGP connection (BIRD 2; FRR after bgpd restarts) turns each such
 * reset into the next BFD Down, forever. The peer's FSM and BFD state live as long as the
 * peer does, so the repair is DeletePeer + AddPeer; a restart of the agent did the same.
 *
 * Three signs, all from what gobgpd reports (WatchEvent session states, ListPeer's BFD state):
 * - `sessionDown`: a BFD peer's session has left Established and is not back. Re-creating it
 *   while it is down clears any reset queued meanwhile (the router's BFD session expires
 *   ~300 ms after its BGP session closed), so the next session is not torn down the moment
 *   it comes up: a restarted router's routes are back after one session set-up instead of
 *   after three resets (`repairOnDrop`; gobgpd's event does not say why a session closed,
 *   and a session that is down loses nothing by being re-created);
 * - `resetLoop`: `maxDrops` drops from Established within `windowMs`;
 * - `bfdNotUp`: Established for `bfdGraceMs` with BFD configured but not Up.
 * The first `quickRepairs` repairs in a row run at once; after that they back off
 * (`minIntervalMs`, doubling up to `maxIntervalMs`), so a peer that keeps flapping (a bad
 * link) is re-created at a bounded rate, never more than once per drop; the count starts
 * over once the session has stayed Established for `windowMs`.
 */

export interface GuardPolicy {
  maxDrops: number;
  windowMs: number;
  bfdGraceMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** Re-create a BFD peer as soon as its session has left Established (`sessionDown`). */
  repairOnDrop: boolean;
  /** Repairs in a row before the back-off starts. */
  quickRepairs: number;
}

export const DEFAULT_GUARD_POLICY: GuardPolicy = Object.freeze({
  maxDrops: 3,
  windowMs: 30_000,
  bfdGraceMs: 15_000,
  minIntervalMs: 20_000,
  maxIntervalMs: 300_000,
  repairOnDrop: true,
  quickRepairs: 3,
});

export type RepairReason = 'sessionDown' | 'resetLoop' | 'bfdNotUp';

export interface PeerGuard {
  /** When the session last left Established (ms), newest last, within the window. */
  drops: readonly number[];
  /** Since when the session is Established; undefined when it is not. */
  establishedAt?: number;
  lastRepairAt?: number;
  /** Repairs since the session last stayed up for a window: sets the back-off. */
  repairs: number;
}

export const NEW_GUARD: PeerGuard = Object.freeze({ drops: [], repairs: 0 });

/** Record one session state (lower-case, as the supervisor keeps them) seen at `now`. */
export function observeState(g: PeerGuard, state: string, now: number, policy: GuardPolicy = DEFAULT_GUARD_POLICY): PeerGuard {
  const drops = g.drops.filter((t) => now - t < policy.windowMs);
  if (state === 'established') return g.establishedAt !== undefined ? { ...g, drops } : { ...g, drops, establishedAt: now };
  if (g.establishedAt === undefined) return { ...g, drops };
  const { establishedAt: _gone, ...rest } = g;
  return { ...rest, drops: [...drops, now] };
}

export interface PeerObservation {
  /** Lower-case session state (`established`, `idle`, ...). */
  state: string;
  bfdEnabled: boolean;
  /** Lower-case BFD state from ListPeer (`up`, `down`, `init`); undefined if unknown. */
  bfd?: string;
}

/** Why the peer should be re-created now, or undefined. */
export function repairDue(g: PeerGuard, obs: PeerObservation, now: number, policy: GuardPolicy = DEFAULT_GUARD_POLICY): RepairReason | undefined {
  if (g.lastRepairAt !== undefined && now - g.lastRepairAt < backoffMs(g.repairs, policy)) return undefined;
  // Drops before a repair are forgotten by it: one repair per drop at most.
  if (policy.repairOnDrop && obs.bfdEnabled && obs.state !== 'established' && g.drops.some((t) => now - t < policy.windowMs)) return 'sessionDown';
  if (g.drops.filter((t) => now - t < policy.windowMs).length >= policy.maxDrops) return 'resetLoop';
  if (obs.bfdEnabled && obs.state === 'established' && g.establishedAt !== undefined && now - g.establishedAt >= policy.bfdGraceMs && obs.bfd !== undefined && obs.bfd !== 'up') {
    return 'bfdNotUp';
  }
  return undefined;
}

/** The guard after a repair at `now`: drops before it no longer count. */
export function afterRepair(g: PeerGuard, now: number): PeerGuard {
  return { drops: [], lastRepairAt: now, repairs: g.repairs + 1 };
}

/** Forget past repairs once the session has been Established for a whole window. */
export function settle(g: PeerGuard, now: number, policy: GuardPolicy = DEFAULT_GUARD_POLICY): PeerGuard {
  if (g.repairs === 0 || g.establishedAt === undefined || now - g.establishedAt < policy.windowMs) return g;
  return { ...g, repairs: 0 };
}

/** Back-off before the next repair of a peer repaired `repairs` times in a row. */
export function backoffMs(repairs: number, policy: GuardPolicy = DEFAULT_GUARD_POLICY): number {
  const free = Math.max(1, policy.quickRepairs);
  if (repairs < free) return 0;
  return Math.min(policy.minIntervalMs * 2 ** (repairs - free), policy.maxIntervalMs);
}
