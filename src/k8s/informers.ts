/**
 * Watched collections for the agent: a client-node ListWatch per kind on a BoundedWatch
 * (every phase of a watch has a time limit; see src/k8s/bounded-watch.ts), restarted with
 * backoff on `error` (ListWatch recovers by itself only from closes and 410 Gone). The list
 * has a time limit too, so no step can wait forever on an API server that went away. The
 * cache keeps the last known objects while the API server is away, so the node keeps
 * serving what it served.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  ListWatch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Namespace,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClusterSnapshot } from '../model/snapshot.js';
import { IPPOOL_GROUP, IPPOOL_PLURAL, IPPOOL_VERSION, type IPPoolObject } from '../model/ip-pool.js';
import { BGPPEER_GROUP, BGPPEER_PLURAL, BGPPEER_VERSION, type BGPPeerObject } from '../model/bgp-peer.js';
import { BoundedWatch, type BoundedWatchOptions } from './bounded-watch.js';
import { BgpvsError } from '../errors.js';
import { systemClock, type Clock, type Random, type TimerHandle } from '../util/clock.js';

export interface WatchTimings extends BoundedWatchOptions {
  /** A list that has not answered in this long fails (default 60 s). */
  listTimeoutMs?: number;
}

/** Annotations the agent reads all start with this; the caches keep no others. */
export const KEPT_ANNOTATION_PREFIX = 'bgpvs.io/';

/**
 * What the caches drop from every object: metadata.managedFields (server-side apply
 * bookkeeping, often the largest part of an object) and every annotation the agent does not
 * read — kubectl's last-applied-configuration (a second copy of the whole spec), and whatever
 * a tenant chose to attach, up to the API's 256 KiB. Only `bgpvs.io/` annotations stay.
 * Nothing is written back from a slimmed object's metadata: a Service status write is a merge
 * patch of its status (a Service's status PUT would also write its metadata), and a custom
 * resource's status PUT ignores metadata.
 */
export function slim<T>(o: T): T {
  const m = (o as { metadata?: { managedFields?: unknown; annotations?: Record<string, string> } } | undefined)?.metadata;
  if (!m) return o;
  if (m.managedFields !== undefined) delete m.managedFields;
  const a = m.annotations;
  if (a) {
    let kept: Record<string, string> | undefined;
    let dropped = false;
    for (const k of Object.keys(a)) {
      if (k.startsWith(KEPT_ANNOTATION_PREFIX)) (kept ??= {})[k] = a[k]!;
      else dropped = true;
    }
    if (dropped) {
      if (kept) m.annotations = kept;
      else delete m.annotations;
    }
  }
  return o;
}

/** `p`, or a rejection after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string, clock: Clock): Promise<T> {
  let timer: TimerHandle | undefined;
  const late = new Promise<never>((_r, reject) => (timer = clock.setTimeout(() => reject(new BgpvsError(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clock.clearTimeout(timer));
}

/** Time and randomness for WatchedKind (the system clock and Math.random by default). */
export interface WatchedKindDeps {
  clock?: Clock;
  /** Uniform in [0, 1): the restart jitter. */
  random?: Random;
}

export class WatchedKind<T extends KubernetesObject> {
  private readonly informer: ListWatch<T>;
  private synced = false;
  private stopped = false;
  private failures = 0;
  private lastFailureAt = 0;
  private timer: TimerHandle | undefined;
  private starting = false;
  private readonly clock: Clock;
  private readonly random: Random;
  private startError: unknown;

  constructor(
    readonly kind: string,
    kc: KubeConfig,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    private readonly onChange: (kind: string) => void,
    private readonly log: Logger,
    // Capped low: after an API outage the node must see changes again within seconds.
    private readonly backoff = { initialMs: 500, maxMs: 5_000 },
    timings: WatchTimings = {},
    deps: WatchedKindDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    const listMs = timings.listTimeoutMs ?? 60_000;
    const watch = new BoundedWatch(kc, { transform: slim, ...timings }, { clock: this.clock, random: this.random }) as unknown as ConstructorParameters<typeof ListWatch<T>>[1];
    const slimList = async () => {
      const l = await within(list(), listMs, `list ${path}`, this.clock);
      for (const o of l.items) slim(o);
      return l;
    };
    this.informer = new ListWatch<T>(path, watch, slimList, false);
    for (const verb of ['add', 'update', 'delete'] as const) this.informer.on(verb, () => this.synced && this.onChange(kind));
    this.informer.on('error', (err: unknown) => {
      if (this.starting) this.startError ??= err;
      this.restart(err);
    });
  }

  get isSynced(): boolean {
    return this.synced;
  }

  items(): readonly T[] {
    return this.informer.list();
  }

  /**
   * List and watch. The kind counts as synced only once a list has really come back: ListWatch
   * reports a failed list as an `error` event and still resolves start(), and an empty cache
   * taken for the cluster's state would make the node withdraw everything it serves.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.starting = true;
    this.startError = undefined;
    try {
      await this.informer.start();
    } catch (err) {
      this.startError ??= err;
    } finally {
      this.starting = false;
    }
    if (!this.synced && this.informer.latestResourceVersion() === '') {
      // The first list failed: its error has scheduled a retry (or schedules one now).
      this.restart(this.startError ?? new BgpvsError(`list ${this.kind}: no answer`));
      return;
    }
    const first = !this.synced;
    this.synced = true;
    if (first) this.log.info({ kind: this.kind, objects: this.items().length }, 'initial list done');
    this.onChange(this.kind);
  }

  /**
   * Retry with exponential backoff (with jitter, so agents do not retry in step), capped low;
   * the backoff starts over after a healthy stretch of 30 s without failures.
   */
  private restart(err: unknown): void {
    if (this.stopped || this.timer) return;
    const now = this.clock.now();
    if (now - this.lastFailureAt > 30_000) this.failures = 0;
    this.lastFailureAt = now;
    this.failures++;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    const delay = Math.round(base * (0.8 + this.random() * 0.4));
    this.log.warn({ kind: this.kind, err, retryInMs: delay, cachedObjects: this.items().length }, 'watch failed; keeping the last known state');
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.informer.stop();
  }
}

/** The kinds a listener can ask to be told about. */
export type WatchKindName = 'Service' | 'EndpointSlice' | 'Node' | 'Namespace' | typeof IPPOOL_PLURAL | typeof BGPPEER_PLURAL;

/**
 * The agent's one view of the cluster: Services, EndpointSlices, Nodes, Namespaces, IP pools
 * and BGP peers, each listed and watched once per agent. The node pass and the IP allocation
 * controller both read these caches; each subscribes to the kinds it acts on.
 */
export class ClusterWatch {
  readonly services: WatchedKind<V1Service>;
  readonly slices: WatchedKind<V1EndpointSlice>;
  readonly nodes: WatchedKind<V1Node>;
  readonly namespaces: WatchedKind<V1Namespace>;
  readonly pools: WatchedKind<IPPoolObject & KubernetesObject>;
  readonly peers: WatchedKind<BGPPeerObject & KubernetesObject>;
  private readonly all: WatchedKind<KubernetesObject>[];
  private readonly listeners = new Set<{ kinds: ReadonlySet<string>; fn: (kind: string) => void }>();

  constructor(kc: KubeConfig, log: Logger) {
    const core = kc.makeApiClient(CoreV1Api);
    const disc = kc.makeApiClient(DiscoveryV1Api);
    const onChange = (kind: string) => {
      for (const l of this.listeners) if (l.kinds.has(kind)) l.fn(kind);
    };
    this.services = new WatchedKind('Service', kc, '/api/v1/services', () => core.listServiceForAllNamespaces(), onChange, log);
    this.slices = new WatchedKind('EndpointSlice', kc, '/apis/discovery.k8s.io/v1/endpointslices', () => disc.listEndpointSliceForAllNamespaces(), onChange, log);
    this.nodes = new WatchedKind('Node', kc, '/api/v1/nodes', () => core.listNode(), onChange, log);
    this.namespaces = new WatchedKind('Namespace', kc, '/api/v1/namespaces', () => core.listNamespace(), onChange, log);
    this.pools = ClusterWatch.custom(kc, IPPOOL_GROUP, IPPOOL_VERSION, IPPOOL_PLURAL, onChange, log);
    this.peers = ClusterWatch.custom(kc, BGPPEER_GROUP, BGPPEER_VERSION, BGPPEER_PLURAL, onChange, log);
    this.all = [this.services, this.slices, this.nodes, this.namespaces, this.pools, this.peers] as unknown as WatchedKind<KubernetesObject>[];
  }

  /** A custom resource (cluster-scoped) watched like the built-in kinds. */
  static custom<T extends KubernetesObject>(kc: KubeConfig, group: string, version: string, plural: string, onChange: (kind: string) => void, log: Logger): WatchedKind<T> {
    const api = kc.makeApiClient(CustomObjectsApi);
    return new WatchedKind<T>(plural, kc, `/apis/${group}/${version}/${plural}`, async () => (await api.listClusterCustomObject({ group, version, plural })) as KubernetesListObject<T>, onChange, log);
  }

  /** `fn(kind)` after every change (and first list) of one of `kinds`; returns the unsubscribe. */
  subscribe(kinds: readonly WatchKindName[], fn: (kind: string) => void): () => void {
    const l = { kinds: new Set<string>(kinds), fn };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  start(): Promise<void[]> {
    return Promise.all(this.all.map((w) => w.start()));
  }

  stop(): Promise<void[]> {
    return Promise.all(this.all.map((w) => w.stop()));
  }

  /** Undefined until every kind has been listed once. */
  snapshot(): ClusterSnapshot | undefined {
    if (!this.all.every((w) => w.isSynced)) return undefined;
    return {
      services: this.services.items(),
      endpointSlices: this.slices.items(),
      nodes: this.nodes.items(),
      namespaces: this.namespaces.items(),
      pools: this.pools.items(),
      peers: this.peers.items(),
    };
  }
}
