/**
 * A typed client for gobgpd's gRPC API (GoBGP v4: typed attribute messages, no
 * google.protobuf.Any). The .proto files are loaded at runtime from the pinned GoBGP
 * version's include dir (`gobgpProtoDir()`); they are never committed.
 *
 * Messages keep the protos' snake_case field names (proto-loader `keepCase`), enums travel
 * as their names, uint64 as strings. Every failed call throws `GobgpError { rpc, code }`.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GobgpError } from '../errors.js';

// ---- message shapes (the subset bgpvs uses) -------------------------------------------

export type Afi = 'AFI_IP' | 'AFI_IP6';
export type Safi = 'SAFI_UNICAST';
export interface Family {
  afi: Afi;
  safi: Safi;
}
export const FAMILY_IPV4: Family = Object.freeze({ afi: 'AFI_IP', safi: 'SAFI_UNICAST' });
export const FAMILY_IPV6: Family = Object.freeze({ afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });

export interface IpPrefixNlri {
  prefix: { prefix: string; prefix_len: number };
}
export type Nlri = IpPrefixNlri;

export interface LargeCommunity {
  global_admin: number;
  local_data1: number;
  local_data2: number;
}
export interface ExtendedCommunity {
  link_bandwidth?: { asn: number; bandwidth: number };
  two_octet_as_specific?: { is_transitive: boolean; sub_type: number; asn: number; local_admin: number };
  unknown?: { type: number; value: Buffer };
}

/** One path attribute: exactly one member set (the proto's `attr` oneof). */
export interface Attribute {
  origin?: { origin: number };
  next_hop?: { next_hop: string };
  local_pref?: { local_pref: number };
  multi_exit_disc?: { med: number };
  communities?: { communities: number[] };
  large_communities?: { communities: LargeCommunity[] };
  extended_communities?: { communities: ExtendedCommunity[] };
  mp_reach?: { family: Family; next_hops: string[]; nlris: Nlri[] };
  as_path?: { segments: { type: string; numbers: number[] }[] };
  /** Set by proto-loader `oneofs` on decode: which member is present. */
  attr?: string;
}

export interface Path {
  nlri: Nlri;
  pattrs: Attribute[];
  family: Family;
  best?: boolean;
  is_withdraw?: boolean;
  is_from_external?: boolean;
  neighbor_ip?: string;
  source_id?: string;
  source_asn?: number;
  uuid?: Buffer;
  filtered?: boolean;
  stale?: boolean;
}

export interface Destination {
  prefix: string;
  paths: Path[];
}

export interface Global {
  asn: number;
  router_id: string;
  listen_port: number;
  listen_addresses?: string[];
  graceful_restart?: { enabled: boolean; restart_time?: number };
}

export interface BfdPeerConfig {
  enabled: boolean;
  port?: number;
  /** Microseconds. */
  desired_minimum_tx_interval: number;
  /** Microseconds. */
  required_minimum_receive: number;
  detection_multiplier: number;
}

export type SessionState =
  | 'SESSION_STATE_UNSPECIFIED'
  | 'SESSION_STATE_IDLE'
  | 'SESSION_STATE_CONNECT'
  | 'SESSION_STATE_ACTIVE'
  | 'SESSION_STATE_OPENSENT'
  | 'SESSION_STATE_OPENCONFIRM'
  | 'SESSION_STATE_ESTABLISHED';

export interface PeerState {
  neighbor_address: string;
  peer_asn: number;
  session_state: SessionState;
  admin_state: string;
  disconnect_reason?: string;
  bfd_state?: { session_state: string; remote_session_state: string; failure_transitions?: string } | null;
  router_id?: string;
}

export interface Peer {
  conf: {
    neighbor_address: string;
    peer_asn: number;
    auth_password?: string;
    description?: string;
    local_asn?: number;
  };
  timers?: {
    config: {
      hold_time?: string | number;
      keepalive_interval?: string | number;
      connect_retry?: string | number;
      idle_hold_time_after_reset?: string | number;
    };
  };
  ebgp_multihop?: { enabled: boolean; multihop_ttl: number };
  transport?: { local_address?: string; remote_port?: number; passive_mode?: boolean };
  graceful_restart?: { enabled: boolean; restart_time?: number; helper_only?: boolean };
  afi_safis?: { config: { family: Family; enabled: boolean }; mp_graceful_restart?: { config: { enabled: boolean } } }[];
  bfd?: BfdPeerConfig;
  state?: PeerState;
}

export type DefinedType = 'DEFINED_TYPE_PREFIX' | 'DEFINED_TYPE_COMMUNITY' | 'DEFINED_TYPE_LARGE_COMMUNITY' | 'DEFINED_TYPE_NEIGHBOR';
export interface DefinedSet {
  defined_type: DefinedType;
  name: string;
  list?: string[];
  prefixes?: { ip_prefix: string; mask_length_min: number; mask_length_max: number }[];
}
export type RouteAction = 'ROUTE_ACTION_ACCEPT' | 'ROUTE_ACTION_REJECT';
export interface Statement {
  name: string;
  conditions?: {
    prefix_set?: { type: 'TYPE_ANY' | 'TYPE_ALL' | 'TYPE_INVERT'; name: string };
    route_type?: 'ROUTE_TYPE_INTERNAL' | 'ROUTE_TYPE_EXTERNAL' | 'ROUTE_TYPE_LOCAL';
  };
  actions: { route_action: RouteAction };
}
export interface Policy {
  name: string;
  statements: Statement[];
}
export type PolicyDirection = 'POLICY_DIRECTION_IMPORT' | 'POLICY_DIRECTION_EXPORT';
export interface PolicyAssignment {
  /** "global" for the global RIB, else a neighbor address. */
  name: string;
  direction: PolicyDirection;
  policies: { name: string }[];
  default_action: RouteAction;
}

export type PeerEventType = 'TYPE_INIT' | 'TYPE_END_OF_INIT' | 'TYPE_STATE' | 'TYPE_UNSPECIFIED';
export interface PeerEvent {
  type: PeerEventType;
  peer: Peer;
}

export interface EventWatch {
  cancel(): void;
}

/** The gobgpd API bgpvs uses; `GobgpClient` implements it over gRPC, tests may fake it. */
export interface GobgpApi {
  startBgp(global: Global): Promise<void>;
  stopBgp(opts?: { allowGracefulRestart?: boolean }): Promise<void>;
  /** Undefined while BGP has not been started (gobgpd answers with asn 0). */
  getBgp(): Promise<Global | undefined>;
  addPeer(peer: Peer): Promise<void>;
  updatePeer(peer: Peer): Promise<void>;
  deletePeer(address: string): Promise<void>;
  listPeer(address?: string): Promise<Peer[]>;
  /** Soft reset: re-run policies towards (`out`) or from (`in`) a peer without a session reset. */
  softResetPeer(address: string, direction: 'in' | 'out' | 'both'): Promise<void>;
  addPath(path: Path): Promise<Buffer>;
  addPathStream(paths: readonly Path[]): Promise<void>;
  deletePath(path: Path): Promise<void>;
  listPath(family: Family, prefixes?: readonly string[]): Promise<Destination[]>;
  addDefinedSet(set: DefinedSet, replace?: boolean): Promise<void>;
  deleteDefinedSet(set: DefinedSet, all?: boolean): Promise<void>;
  listDefinedSet(type: DefinedType, name?: string): Promise<DefinedSet[]>;
  addPolicy(policy: Policy): Promise<void>;
  deletePolicy(name: string): Promise<void>;
  listPolicy(name?: string): Promise<Policy[]>;
  setPolicyAssignment(a: PolicyAssignment): Promise<void>;
  listPolicyAssignment(direction: PolicyDirection, name?: string): Promise<PolicyAssignment[]>;
  watchPeerEvents(onEvent: (ev: PeerEvent) => void, onEnd: (err?: GobgpError) => void): EventWatch;
  /** Resolves once the channel is connected (or rejects after `timeoutMs`). */
  waitReady(timeoutMs: number): Promise<void>;
  close(): void;
}

// ---- loading ----------------------------------------------------------------------------

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type RawClient = grpc.Client & Record<string, (req: unknown, ...rest: unknown[]) => unknown>;
type RawCtor = new (target: string, creds: grpc.ChannelCredentials, opts?: grpc.ChannelOptions) => RawClient;

const ctorCache = new Map<string, RawCtor>();

/** The grpc-js service constructor for `api.GoBgpService`, from the protos in `protoDir`. */
export function loadGobgpService(protoDir: string): RawCtor {
  const hit = ctorCache.get(protoDir);
  if (hit) return hit;
  const def = protoLoader.loadSync('api/gobgp.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { api?: { GoBgpService?: RawCtor } };
  const ctor = pkg.api?.GoBgpService;
  if (!ctor) throw new GobgpError('load', undefined, `api.GoBgpService not found in ${protoDir}/api/gobgp.proto`);
  ctorCache.set(protoDir, ctor);
  return ctor;
}

function wrap(rpc: string, err: unknown): GobgpError {
  const e = err as Partial<grpc.ServiceError>;
  const code = typeof e.code === 'number' ? e.code : undefined;
  return new GobgpError(rpc, code, e.details || e.message || String(err), { cause: err });
}

export interface GobgpClientOptions {
  /** gRPC target: "127.0.0.1:50051" or "unix:/path.sock". */
  target: string;
  protoDir: string;
  /** Per-call deadline for unary calls and finite streams. */
  callTimeoutMs?: number;
}

export class GobgpClient implements GobgpApi {
  readonly target: string;
  private readonly raw: RawClient;
  private readonly callTimeoutMs: number;

  constructor(opts: GobgpClientOptions) {
    const Ctor = loadGobgpService(opts.protoDir);
    this.target = opts.target;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.raw = new Ctor(opts.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      // gobgpd restarts under the supervisor: reconnect quickly.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  private deadline(): Date {
    return new Date(Date.now() + this.callTimeoutMs);
  }

  private unary<T>(rpc: string, req: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fn = this.raw[rpc];
      if (!fn) return reject(new GobgpError(rpc, undefined, 'no such rpc'));
      const cb: Callback = (err, res) => (err ? reject(wrap(rpc, err)) : resolve(res as T));
      fn.call(this.raw, req, { deadline: this.deadline() }, cb);
    });
  }

  private collect<T>(rpc: string, req: unknown): Promise<T[]> {
    return new Promise<T[]>((resolve, reject) => {
      const fn = this.raw[rpc];
      if (!fn) return reject(new GobgpError(rpc, undefined, 'no such rpc'));
      const out: T[] = [];
      const s = fn.call(this.raw, req, { deadline: this.deadline() }) as grpc.ClientReadableStream<T>;
      s.on('data', (d: T) => out.push(d));
      s.on('error', (err) => reject(wrap(rpc, err)));
      s.on('end', () => resolve(out));
    });
  }

  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.waitForReady(new Date(Date.now() + timeoutMs), (err) => (err ? reject(wrap('waitForReady', err)) : resolve()));
    });
  }

  async startBgp(global: Global): Promise<void> {
    await this.unary('StartBgp', { global });
  }

  async stopBgp(opts: { allowGracefulRestart?: boolean } = {}): Promise<void> {
    await this.unary('StopBgp', { allow_graceful_restart: opts.allowGracefulRestart ?? false });
  }

  async getBgp(): Promise<Global | undefined> {
    const res = await this.unary<{ global?: Global }>('GetBgp', {});
    const g = res.global;
    return g && g.asn ? g : undefined;
  }

  async addPeer(peer: Peer): Promise<void> {
    await this.unary('AddPeer', { peer });
  }

  async updatePeer(peer: Peer): Promise<void> {
    await this.unary('UpdatePeer', { peer, do_soft_reset_in: false });
  }

  async deletePeer(address: string): Promise<void> {
    await this.unary('DeletePeer', { address });
  }

  async listPeer(address = ''): Promise<Peer[]> {
    const rs = await this.collect<{ peer: Peer }>('ListPeer', { address });
    return rs.map((r) => r.peer);
  }

  async softResetPeer(address: string, direction: 'in' | 'out' | 'both'): Promise<void> {
    const dir = direction === 'in' ? 'DIRECTION_IN' : direction === 'out' ? 'DIRECTION_OUT' : 'DIRECTION_BOTH';
    await this.unary('ResetPeer', { address, communication: '', soft: true, direction: dir });
  }

  async addPath(path: Path): Promise<Buffer> {
    const r = await this.unary<{ uuid: Buffer }>('AddPath', { table_type: 'TABLE_TYPE_GLOBAL', path });
    return r.uuid;
  }

  addPathStream(paths: readonly Path[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const fn = this.raw.AddPathStream;
      if (!fn) return reject(new GobgpError('AddPathStream', undefined, 'no such rpc'));
      const s = fn.call(this.raw, { deadline: this.deadline() }, ((err: grpc.ServiceError | null) =>
        err ? reject(wrap('AddPathStream', err)) : resolve()) as Callback) as grpc.ClientWritableStream<unknown>;
      const batch = 1000;
      for (let i = 0; i < paths.length; i += batch) {
        s.write({ table_type: 'TABLE_TYPE_GLOBAL', paths: paths.slice(i, i + batch) });
      }
      s.end();
    });
  }

  async deletePath(path: Path): Promise<void> {
    await this.unary('DeletePath', { table_type: 'TABLE_TYPE_GLOBAL', family: path.family, path });
  }

  async listPath(family: Family, prefixes: readonly string[] = []): Promise<Destination[]> {
    const rs = await this.collect<{ destination: Destination }>('ListPath', {
      table_type: 'TABLE_TYPE_GLOBAL',
      family,
      prefixes: prefixes.map((prefix) => ({ prefix, type: 'TYPE_EXACT' })),
    });
    return rs.map((r) => r.destination);
  }

  async addDefinedSet(set: DefinedSet, replace = false): Promise<void> {
    await this.unary('AddDefinedSet', { defined_set: set, replace });
  }

  async deleteDefinedSet(set: DefinedSet, all = false): Promise<void> {
    await this.unary('DeleteDefinedSet', { defined_set: set, all });
  }

  async listDefinedSet(type: DefinedType, name = ''): Promise<DefinedSet[]> {
    const rs = await this.collect<{ defined_set: DefinedSet }>('ListDefinedSet', { defined_type: type, name });
    return rs.map((r) => r.defined_set);
  }

  async addPolicy(policy: Policy): Promise<void> {
    await this.unary('AddPolicy', { policy, refer_existing_statements: false });
  }

  async deletePolicy(name: string): Promise<void> {
    await this.unary('DeletePolicy', { policy: { name }, preserve_statements: false, all: true });
  }

  async listPolicy(name = ''): Promise<Policy[]> {
    const rs = await this.collect<{ policy: Policy }>('ListPolicy', { name });
    return rs.map((r) => r.policy);
  }

  async setPolicyAssignment(assignment: PolicyAssignment): Promise<void> {
    await this.unary('SetPolicyAssignment', { assignment });
  }

  async listPolicyAssignment(direction: PolicyDirection, name = ''): Promise<PolicyAssignment[]> {
    const rs = await this.collect<{ assignment: PolicyAssignment }>('ListPolicyAssignment', { name, direction });
    return rs.map((r) => r.assignment);
  }

  watchPeerEvents(onEvent: (ev: PeerEvent) => void, onEnd: (err?: GobgpError) => void): EventWatch {
    const fn = this.raw.WatchEvent;
    if (!fn) throw new GobgpError('WatchEvent', undefined, 'no such rpc');
    const s = fn.call(this.raw, { peer: {} }) as grpc.ClientReadableStream<{ event?: string; peer?: PeerEvent }>;
    let cancelled = false;
    let ended = false;
    const end = (err?: GobgpError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    s.on('data', (d) => {
      if (d.peer) onEvent(d.peer);
    });
    s.on('error', (err: grpc.ServiceError) => {
      if (cancelled && err.code === grpc.status.CANCELLED) return end();
      end(wrap('WatchEvent', err));
    });
    s.on('end', () => end());
    return {
      cancel: () => {
        cancelled = true;
        s.cancel();
      },
    };
  }

  close(): void {
    this.raw.close();
  }
}
