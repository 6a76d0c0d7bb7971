/**
 * The BGP adapter: makes gobgpd hold exactly the wanted global config, peers, policies and
 * paths. Declarative like MetalLB's `Session.set(...ads)`: every call re-reads gobgpd
 * (GetBgp, ListPeer, ListPolicy, ListPath) and changes only the difference, and only what
 * bgpvs made (marked paths, `bgpvs:`-tagged peers, `bgpvs-*` policies).
 */
import type { Logger } from 'pino';
import type { Advertisement } from '../model/types.js';
import { GobgpError } from '../errors.js';
import { FAMILY_IPV4, FAMILY_IPV6, type GobgpApi, type Path, type Peer } from './gobgp-client.js';
import { EXPORT_POLICY, PEER_TAG, renderGlobal, renderPeer, renderPolicies, type SpeakerConfig } from './config.js';
import { defaultMarker, fromGobgpPath, isOurs, toGobgpPath, toGobgpWithdraw, wantedPaths, type PathSkipReason, type PathSpec } from './paths.js';
import { diffPaths } from './diff.js';

/** gRPC status NOT_FOUND. */
const NOT_FOUND = 5;

export interface PathSyncResult {
  added: number;
  replaced: number;
  deleted: number;
  /** Paths of ours gobgpd holds after the pass. */
  advertised: number;
  skipped: { prefix: string; reason: PathSkipReason }[];
}

export interface GobgpSpeakerDeps {
  client: GobgpApi;
  logger: Logger;
  config: SpeakerConfig;
  /** Above this many adds in one pass, use the AddPathStream RPC. */
  streamThreshold?: number;
}

export class GobgpSpeaker {
  private client: GobgpApi;
  private readonly log: Logger;
  private cfg: SpeakerConfig;
  private readonly marker: string;
  private readonly streamThreshold: number;
  private wanted: readonly Advertisement[] = [];
  /**
   * False until the first setAdvertisements/withdrawAll: a speaker that does not know the
   * wanted set yet (the agent before its first pass) leaves paths alone, so an agent
   * restarted against a running gobgpd (a sidecar) does not withdraw and re-add them all.
   */
  private wantedKnown = false;
  private draining = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(deps: GobgpSpeakerDeps) {
    this.client = deps.client;
    this.log = deps.logger.child({ component: 'bgp-speaker' });
    this.cfg = deps.config;
    this.marker = deps.config.marker ?? defaultMarker(deps.config.asn);
    this.streamThreshold = deps.streamThreshold ?? 64;
  }

  /** Point the speaker at another client (the supervisor reconnects after a restart). */
  setClient(client: GobgpApi): void {
    this.client = client;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Calls never overlap: each waits for the previous one. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The wanted advertisement set; diffed against gobgpd's paths of ours. */
  setAdvertisements(ads: readonly Advertisement[]): Promise<PathSyncResult> {
    this.wanted = ads;
    this.wantedKnown = true;
    return this.serial(() => this.syncPaths());
  }

  /** Global config, policies, peers and the full path set (after a start or restart). */
  resync(): Promise<PathSyncResult> {
    return this.serial(async () => {
      await this.ensureGlobal();
      const exportSwitched = await this.ensurePolicies();
      await this.ensurePeers();
      // A new export policy applies to new updates only: re-run export towards every peer.
      if (exportSwitched) await this.softResetOut();
      return this.syncPaths();
    });
  }

  /** Addresses of the peers this speaker configures (status shows only these). */
  peerAddresses(): string[] {
    return this.cfg.peers.map((p) => p.address);
  }

  /**
   * A new config (peers or pools changed): global, policies, peers and paths brought to it
   * like a resync. Later restarts of gobgpd resync to this config too.
   */
  reconfigure(cfg: SpeakerConfig): Promise<PathSyncResult> {
    this.cfg = cfg;
    return this.resync();
  }

  /**
   * Re-announce every path with GRACEFUL_SHUTDOWN and the drain local-pref (RFC 8326). Before
   * the wanted set is known nothing is re-announced (withdrawAll still withdraws).
   */
  drain(): Promise<PathSyncResult> {
    this.draining = true;
    return this.serial(() => this.syncPaths());
  }

  /** Withdraw every path of ours. */
  withdrawAll(): Promise<PathSyncResult> {
    this.wanted = [];
    this.wantedKnown = true;
    return this.serial(() => this.syncPaths());
  }

  /** Whether the speaker configures BFD towards this peer. */
  bfdEnabled(address: string): boolean {
    return Boolean(this.cfg.peers.find((p) => p.address === address)?.bfd);
  }

  /**
   * Re-create one configured peer in gobgpd (DeletePeer + AddPeer): a fresh BGP FSM and BFD
   * session. The way out of gobgpd's reset loop (./session-guard.ts); false if the speaker
   * does not configure that peer.
   */
  repairPeer(address: string): Promise<boolean> {
    return this.serial(async () => {
      const p = this.cfg.peers.find((x) => x.address === address);
      if (!p) return false;
      try {
        await this.client.deletePeer(address);
      } catch (err) {
        if (!(err instanceof GobgpError && err.code === NOT_FOUND)) throw err;
      }
      const peer = renderPeer(p, this.cfg);
      await this.client.addPeer(peer);
      return true;
    });
  }

  // ---- global ------------------------------------------------------------------------------

  private async ensureGlobal(): Promise<void> {
    const want = renderGlobal(this.cfg);
    const cur = await this.client.getBgp();
    if (cur && cur.asn === want.asn && cur.router_id === want.router_id && cur.listen_port === want.listen_port) return;
    if (cur) {
      this.log.warn({ asn: cur.asn, routerId: cur.router_id, wantAsn: want.asn, wantRouterId: want.router_id }, 'gobgpd runs another global config; restarting BGP');
      await this.client.stopBgp();
    }
    await this.client.startBgp(want);
    this.log.info({ asn: want.asn, routerId: want.router_id, listenPort: want.listen_port }, 'bgp started');
  }

  // ---- policies ----------------------------------------------------------------------------

  /**
   * Policies of ours, by name: a missing one is created (sets first), the global
   * assignments point at the wanted ones, and export policies/sets of ours no longer
   * assigned are deleted. Returns whether an export policy was switched (then each peer
   * needs a soft reset out for paths already sent or held back).
   */
  private async ensurePolicies(): Promise<boolean> {
    const ps = renderPolicies(this.cfg);
    const existing = new Map((await this.client.listPolicy()).map((p) => [p.name, p]));
    const sets = new Set((await this.client.listDefinedSet('DEFINED_TYPE_PREFIX')).map((d) => d.name));
    for (const ds of ps.definedSets) if (!sets.has(ds.name)) await this.client.addDefinedSet(ds);
    let switched = false;
    for (const p of ps.policies) {
      const have = new Set((existing.get(p.name)?.statements ?? []).map((s) => s.name));
      const missing = p.statements.filter((s) => !have.has(s.name));
      if (existing.has(p.name) && !missing.length) continue;
      // AddPolicy on an existing policy appends the statements given.
      await this.client.addPolicy({ name: p.name, statements: missing });
      this.log.info({ policy: p.name, statements: missing.map((s) => s.name) }, 'policy set');
    }
    for (const a of ps.assignments) await this.client.setPolicyAssignment(a);
    const wantPolicies = new Set(ps.policies.map((p) => p.name));
    for (const name of existing.keys()) {
      if (!name.startsWith(`${EXPORT_POLICY}-`) || wantPolicies.has(name)) continue;
      await this.client.deletePolicy(name);
      switched = true;
      this.log.info({ policy: name }, 'old export policy removed');
    }
    const wantSets = new Set(ps.definedSets.map((d) => d.name));
    for (const name of sets) {
      if (name.startsWith(`${EXPORT_POLICY}-`) && !wantSets.has(name)) await this.client.deleteDefinedSet({ defined_type: 'DEFINED_TYPE_PREFIX', name }, true);
    }
    return switched;
  }

  private async softResetOut(): Promise<void> {
    for (const p of await this.client.listPeer()) {
      const addr = p.state?.neighbor_address || p.conf.neighbor_address;
      if (p.state?.session_state !== 'SESSION_STATE_ESTABLISHED') continue;
      await this.client.softResetPeer(addr, 'out');
      this.log.info({ peer: addr }, 'export policy re-applied (soft reset out)');
    }
  }

  // ---- peers -------------------------------------------------------------------------------

  private async ensurePeers(): Promise<void> {
    const want = new Map<string, Peer>(this.cfg.peers.map((p) => [p.address, renderPeer(p, this.cfg)]));
    const have = new Map((await this.client.listPeer()).map((p) => [p.state?.neighbor_address || p.conf.neighbor_address, p]));
    for (const [addr, peer] of have) {
      const ours = (peer.conf.description ?? '').startsWith(PEER_TAG);
      const w = want.get(addr);
      if (!ours && !w) continue; // not ours: leave it alone
      if (w && peer.conf.description === w.conf.description) {
        want.delete(addr);
        continue;
      }
      await this.client.deletePeer(addr);
      this.log.info({ peer: addr, reason: w ? 'changed' : 'removed' }, 'peer deleted');
    }
    for (const [addr, peer] of want) {
      await this.client.addPeer(peer);
      this.log.info({ peer: addr, asn: peer.conf.peer_asn, bfd: Boolean(peer.bfd) }, 'peer added');
    }
  }

  // ---- paths -------------------------------------------------------------------------------

  /** Paths of ours gobgpd holds now, canonical. */
  async listOurs(): Promise<PathSpec[]> {
    const out: PathSpec[] = [];
    for (const fam of [FAMILY_IPV4, FAMILY_IPV6]) {
      let dests;
      try {
        dests = await this.client.listPath(fam);
      } catch (err) {
        // A family never used has no table yet.
        if (err instanceof GobgpError && err.code === NOT_FOUND) continue;
        throw err;
      }
      for (const d of dests) {
        for (const p of d.paths) {
          if (!isOurs(p, this.marker)) continue;
          const spec = fromGobgpPath(p);
          if (spec) out.push(spec);
        }
      }
    }
    return out;
  }

  private async syncPaths(): Promise<PathSyncResult> {
    if (!this.wantedKnown) {
      const held = (await this.listOurs()).length;
      this.log.debug({ reason: 'wantedUnknown', paths: held }, 'paths left as they are');
      return { added: 0, replaced: 0, deleted: 0, advertised: held, skipped: [] };
    }
    const { paths, skipped } = wantedPaths(this.wanted, {
      nextHops: this.cfg.nextHops,
      marker: this.marker,
      gracefulShutdown: this.draining,
      ...(this.cfg.linkBandwidth ? { linkBandwidth: this.cfg.linkBandwidth } : {}),
    });
    for (const s of skipped) this.log.warn({ prefix: s.prefix, reason: s.reason }, 'advertisement skipped');
    const actual = await this.listOurs();
    const d = diffPaths(paths, actual);
    const puts = [...d.add, ...d.replace];
    if (puts.length > this.streamThreshold) {
      await this.client.addPathStream(puts.map(toGobgpPath));
    } else {
      for (const p of puts) await this.client.addPath(toGobgpPath(p));
    }
    for (const p of d.delete) await this.client.deletePath(toGobgpWithdraw(p) as Path);
    if (puts.length + d.delete.length > 20) {
      this.log.info({ added: d.add.length, replaced: d.replace.length, deleted: d.delete.length, draining: this.draining }, 'paths changed');
    } else {
      for (const p of d.add) this.log.info({ prefix: p.prefix, op: 'add' }, 'path announced');
      for (const p of d.replace) this.log.info({ prefix: p.prefix, op: 'replace', draining: this.draining }, 'path re-announced');
      for (const p of d.delete) this.log.info({ prefix: p.prefix, op: 'delete' }, 'path withdrawn');
    }
    if (!puts.length && !d.delete.length) this.log.debug({ reason: 'inSync', paths: paths.length }, 'paths unchanged');
    return { added: d.add.length, replaced: d.replace.length, deleted: d.delete.length, advertised: paths.length, skipped };
  }
}
