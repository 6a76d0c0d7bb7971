/** A small stateful fake of gobgpd's API for unit tests; it enforces gobgpd's invariants. */
import { GobgpError } from '../../src/errors.js';
import type {
  DefinedSet,
  Destination,
  EventWatch,
  Family,
  GobgpApi,
  Global,
  Path,
  Peer,
  PeerEvent,
  Policy,
  PolicyAssignment,
} from '../../src/bgp/gobgp-client.js';

export class FakeGobgp implements GobgpApi {
  global: Global | undefined;
  peers = new Map<string, Peer>();
  paths = new Map<string, Path>();
  sets = new Map<string, DefinedSet>();
  policies = new Map<string, Policy>();
  assignments = new Map<string, PolicyAssignment>();
  calls: string[] = [];

  /** gobgpd restarted: everything gone. */
  reset(): void {
    this.global = undefined;
    this.peers.clear();
    this.paths.clear();
    this.sets.clear();
    this.policies.clear();
    this.assignments.clear();
  }
  private need(rpc: string): void {
    this.calls.push(rpc);
    if (!this.global) throw new GobgpError(rpc, 9, 'bgp server not started');
  }
  private key(p: Path): string {
    return `${p.family.afi}|${p.nlri.prefix.prefix}/${p.nlri.prefix.prefix_len}`;
  }
  async startBgp(g: Global) {
    this.calls.push('StartBgp');
    if (this.global) throw new GobgpError('StartBgp', 6, 'already started');
    this.global = g;
  }
  async stopBgp() {
    this.need('StopBgp');
    this.reset();
  }
  async getBgp() {
    this.calls.push('GetBgp');
    return this.global;
  }
  async addPeer(p: Peer) {
    this.need('AddPeer');
    if (this.peers.has(p.conf.neighbor_address)) throw new GobgpError('AddPeer', 6, 'peer exists');
    this.peers.set(p.conf.neighbor_address, structuredClone(p));
  }
  async updatePeer(p: Peer) {
    this.need('UpdatePeer');
    this.peers.set(p.conf.neighbor_address, p);
  }
  async deletePeer(a: string) {
    this.need('DeletePeer');
    if (!this.peers.delete(a)) throw new GobgpError('DeletePeer', 5, 'no peer');
  }
  async listPeer() {
    this.need('ListPeer');
    return [...this.peers.values()];
  }
  softResets: string[] = [];
  async softResetPeer(a: string, dir: 'in' | 'out' | 'both') {
    this.need('ResetPeer');
    if (!this.peers.has(a)) throw new GobgpError('ResetPeer', 5, 'no peer');
    this.softResets.push(`${a} ${dir}`);
  }
  async addPath(p: Path) {
    this.need('AddPath');
    this.paths.set(this.key(p), { ...structuredClone(p), neighbor_ip: '' });
    return Buffer.alloc(16);
  }
  async addPathStream(ps: readonly Path[]) {
    for (const p of ps) await this.addPath(p);
  }
  async deletePath(p: Path) {
    this.need('DeletePath');
    if (!this.paths.delete(this.key(p))) throw new GobgpError('DeletePath', 5, 'no path');
  }
  async listPath(f: Family): Promise<Destination[]> {
    this.need('ListPath');
    return [...this.paths.values()]
      .filter((p) => p.family.afi === f.afi)
      .map((p) => ({ prefix: `${p.nlri.prefix.prefix}/${p.nlri.prefix.prefix_len}`, paths: [p] }));
  }
  async addDefinedSet(s: DefinedSet) {
    this.need('AddDefinedSet');
    this.sets.set(s.name, s);
  }
  async deleteDefinedSet(s: DefinedSet) {
    this.need('DeleteDefinedSet');
    const used = [...this.policies.values()].some((p) => p.statements.some((st) => st.conditions?.prefix_set?.name === s.name));
    if (used) throw new GobgpError('DeleteDefinedSet', 2, `defined set ${s.name} in use`);
    this.sets.delete(s.name);
  }
  async listDefinedSet() {
    this.need('ListDefinedSet');
    return [...this.sets.values()];
  }
  async addPolicy(p: Policy) {
    this.need('AddPolicy');
    // As gobgpd: statement names are global; AddPolicy on an existing policy appends.
    const known = new Set([...this.policies.values()].flatMap((x) => x.statements.map((s) => s.name)));
    for (const s of p.statements) {
      if (known.has(s.name)) throw new GobgpError('AddPolicy', 2, `statement ${s.name} already defined`);
      const set = s.conditions?.prefix_set?.name;
      if (set && !this.sets.has(set)) throw new GobgpError('AddPolicy', 5, `no defined set ${set}`);
    }
    const cur = this.policies.get(p.name);
    this.policies.set(p.name, { name: p.name, statements: [...(cur?.statements ?? []), ...p.statements] });
  }
  async deletePolicy(n: string) {
    this.need('DeletePolicy');
    const inUse = [...this.assignments.values()].some((a) => a.policies.some((x) => x.name === n));
    if (inUse) throw new GobgpError('DeletePolicy', 2, `policy ${n} in use`);
    this.policies.delete(n);
  }
  async listPolicy() {
    this.need('ListPolicy');
    return [...this.policies.values()];
  }
  async setPolicyAssignment(a: PolicyAssignment) {
    this.need('SetPolicyAssignment');
    for (const p of a.policies) if (!this.policies.has(p.name)) throw new GobgpError('SetPolicyAssignment', 5, `no policy ${p.name}`);
    this.assignments.set(`${a.name}|${a.direction}`, a);
  }
  async listPolicyAssignment() {
    return [...this.assignments.values()];
  }
  watchers: { onEvent: (ev: PeerEvent) => void; onEnd: (err?: GobgpError) => void; cancelled: boolean }[] = [];
  watchPeerEvents(onEvent: (ev: PeerEvent) => void, onEnd: (err?: GobgpError) => void): EventWatch {
    const w = { onEvent, onEnd, cancelled: false };
    this.watchers.push(w);
    return { cancel: () => void (w.cancelled = true) };
  }
  /** Deliver a peer event to live watchers. */
  emit(ev: PeerEvent): void {
    for (const w of this.watchers) if (!w.cancelled) w.onEvent(ev);
  }
  /** gobgpd went away: every live stream ends with UNAVAILABLE. */
  breakStreams(): void {
    for (const w of this.watchers.splice(0)) if (!w.cancelled) w.onEnd(new GobgpError('WatchEvent', 14, 'unavailable'));
  }
  async waitReady() {}
  close() {}
}
