/**
 * The agent's config: flags, env and a ConfigMap file → one frozen, validated Config.
 * Precedence: flag > env > file > default. Every error names the flag/field, and the agent
 * exits 1 before any watch starts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ForwardingMethod, Scheduler } from '../model/types.js';
import { DEFAULT_BUCKETS, isPrime } from '../maglev/table.js';
import { parseAsn, parseBool, parseCidr, parseDuration, parseEnum, parseHostPort, parseInt, parseIp } from './parse.js';
import { peerFromSpec, type Peer } from './peer.js';

/** Per-Service cost caps' defaults (src/desired/config.ts holds the same numbers; a unit test keeps them equal). */
export const DEFAULT_LIMITS = { maxPorts: 100, maxVirtualServers: 256, maxBuckets: 65_536 } as const;


/** How the agent shares BGP with a CNI's speaker (src/coexist/). */
export type CoexistMode = 'dedicated' | 'via-local-speaker' | 'delegate';
/** A peer from --bgp.peers or the ConfigMap's bgp.peers: exactly a BGPPeer spec (config/peer.ts). */
export type StaticPeer = Peer;

export interface Config {
  nodeName: string;
  /** The node's address for next-hops and router-id; else its InternalIP. */
  nodeAddress?: string;
  kubeconfig?: string;
  logLevel: string;
  /**
   * /metrics, /status, /healthz, /readyz. Default 127.0.0.1:9254: with hostNetwork, any other
   * address is reachable by every pod, and /status names every Service and peer.
   */
  metrics: { host: string; port: number };
  /** A second listener with /healthz and /readyz only (the kubelet's probes); none by default. */
  health?: { host: string; port: number };
  /** The only namespace whose Secrets the agent reads (BGPPeer passwordSecretRef); default the lease namespace. */
  secretNamespace: string;
  resyncMs: number;
  dataplane: 'auto' | 'ipvs' | 'nft';
  nft: {
    /**
     * externalTrafficPolicy Cluster with a backend on another node: `dsr` hands the packet
     * unchanged to that node (on-link), which DNATs and replies straight to the client;
     * `masquerade` DNATs and SNATs here, kube-proxy style (also the fallback of `dsr`).
     */
    clusterMode: 'dsr' | 'masquerade';
    /**
     * Maglev buckets per virtual server (prime; the same on every node). Memory and nft load
     * time grow with it; balance and the number of backends that can serve one Service (at most
     * this many) too.
     */
    maglevSize: number;
  };
  /** How the IPVS data plane finds a local pod's network namespace for DSR. */
  podNetns: PodNetnsSource;
  service: {
    loadBalancerClass: string;
    handleClasslessServices: boolean;
    advertiseClusterIPs: boolean;
    /**
     * spec.externalIPs are served only inside these CIDRs (empty: never), and never when they
     * are another Service's address, a node's or a ClusterIP (desired/external-ips.ts).
     */
    externalIpCidrs: string[];
    defaultScheduler: Scheduler;
    defaultForwarding: ForwardingMethod;
    /** Per-Service cost caps (untrusted input): a Service over one is refused with a reason. */
    maxPorts: number;
    maxVirtualServers: number;
    maxBuckets: number;
  };
  bgp: {
    asn: number;
    routerId?: string;
    /** -1: never listen on 179, only connect out. */
    listenPort: number;
    gobgpd: { mode: 'child'; grpcPort: number } | { mode: 'external'; host: string; port: number };
    gracefulShutdownMs: number;
    coexistence: CoexistMode;
    allowWriteCniConfig: boolean;
    peers: StaticPeer[];
    /** Extra CIDRs the export policy lets out besides the IP pools (e.g. a cluster-IP range). */
    exportCidrs: string[];
  };
  /** Lease timings: leaseDurationMs > renewDeadlineMs > retryPeriodMs (checked here). */
  ipam: {
    enabled: boolean;
    /** No IPPool may be wider than one CIDR of this prefix length (else it is not Ready). */
    poolMinPrefixLength: { IPv4: number; IPv6: number };
    leaseNamespace: string; leaseName: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}

/**
 * `--pod-netns`: `crictl` (the CRI runtime, in clusters), `map:PATH` (a JSON file
 * {"namespace/name": "netns"}, the lab's), `none` (no DSR into pods).
 */
export type PodNetnsSource = { kind: 'crictl' } | { kind: 'none' } | { kind: 'map'; path: string };

export function parsePodNetns(field: string, v: string): PodNetnsSource {
  const s = v.trim();
  if (s === 'crictl' || s === 'none') return { kind: s };
  if (s.startsWith('map:') && s.length > 4) return { kind: 'map', path: s.slice(4) };
  throw new ConfigError(field, `must be crictl, none or map:PATH: ${JSON.stringify(v)}`);
}

type Raw = Record<string, unknown>;

/** Flag names are the dotted field paths in kebab-case: --bgp.asn, --service.load-balancer-class. */
const FIELDS = {
  nodeName: 'node-name',
  nodeAddress: 'node-address',
  kubeconfig: 'kubeconfig',
  logLevel: 'log-level',
  metricsAddress: 'metrics-address',
  healthAddress: 'health-address',
  secretNamespace: 'bgp.secret-namespace',
  resync: 'resync',
  dataplane: 'dataplane',
  nftClusterMode: 'nft.cluster-mode',
  nftMaglevSize: 'nft.maglev-size',
  podNetns: 'pod-netns',
  lbClass: 'service.load-balancer-class',
  classless: 'service.handle-classless',
  clusterIps: 'service.advertise-cluster-ips',
  externalIpsRemoved: 'service.advertise-external-ips',
  externalIpCidrs: 'service.external-ip-cidrs',
  scheduler: 'service.default-scheduler',
  forwarding: 'service.default-forwarding',
  maxPorts: 'service.max-ports',
  maxVirtualServers: 'service.max-virtual-servers',
  maxBuckets: 'service.max-buckets',
  asn: 'bgp.asn',
  routerId: 'bgp.router-id',
  listenPort: 'bgp.listen-port',
  gobgpd: 'bgp.gobgpd',
  drain: 'bgp.graceful-shutdown',
  coexistence: 'bgp.coexistence',
  allowWriteCni: 'bgp.allow-write-cni-config',
  peers: 'bgp.peers',
  exportCidrs: 'bgp.export-cidrs',
  ipam: 'ipam.enabled',
  poolMinPrefixV4: 'ipam.pool-min-prefix-ipv4',
  poolMinPrefixV6: 'ipam.pool-min-prefix-ipv6',
  leaseNs: 'ipam.lease-namespace',
  leaseDuration: 'ipam.lease-duration',
  renewDeadline: 'ipam.renew-deadline',
  retryPeriod: 'ipam.retry-period',
} as const;

const envName = (flag: string) => `BGPVS_${flag.replace(/[.-]/g, '_').toUpperCase()}`;

/** Flags that take no value (`--ipam.enabled`) or one after `=` (`--ipam.enabled=false`). */
const BOOLEAN_FLAGS = new Set<string>([FIELDS.classless, FIELDS.clusterIps, FIELDS.externalIpsRemoved, FIELDS.allowWriteCni, FIELDS.ipam]);
const KNOWN_FLAGS = new Set<string>([...Object.values(FIELDS), 'config']);

/**
 * argv through node:util's parseArgs → { 'a.b': 'v' }: `--a.b=v` or `--a.b v`; a bare boolean
 * flag is 'true'. parseArgs runs non-strict, so that an unknown flag, a missing value and a
 * stray argument come back as tokens and the errors below name the flag as the agent's do.
 */
export function parseArgv(argv: readonly string[]): Record<string, string> {
  const options = Object.fromEntries([...KNOWN_FLAGS].map((f) => [f, { type: BOOLEAN_FLAGS.has(f) ? ('boolean' as const) : ('string' as const) }]));
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: Record<string, string> = {};
  let lastBoolean: string | undefined;
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (lastBoolean) throw new ConfigError(lastBoolean, `a boolean flag takes its value after "=": ${lastBoolean}=${t.value}`);
      throw new ConfigError(t.value, 'unexpected argument (flags are --name=value)');
    }
    lastBoolean = undefined;
    if (t.kind === 'option-terminator') throw new ConfigError('--', 'unexpected argument (flags are --name=value)');
    if (t.kind !== 'option') continue;
    if (!KNOWN_FLAGS.has(t.name) || !t.rawName.startsWith('--')) throw new ConfigError(t.rawName, 'unknown flag');
    if (BOOLEAN_FLAGS.has(t.name)) {
      out[t.name] = t.value ?? 'true';
      if (t.value === undefined) lastBoolean = t.rawName;
    } else if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
      throw new ConfigError(t.rawName, 'needs a value (--name=value)');
    } else {
      out[t.name] = t.value;
    }
  }
  return out;
}

/** Flatten a YAML ConfigMap document into dotted kebab-case keys (`bgp: {asn: 1}` → bgp.asn). */
function flatten(doc: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc as Raw)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (key === FIELDS.peers || key === FIELDS.exportCidrs || key === FIELDS.externalIpCidrs) out[key] = v;
      else flatten(v, key, out);
    }
  } else if (prefix) {
    out[prefix] = doc;
  }
  return out;
}

export interface ConfigSources {
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of the ConfigMap file (also --config / BGPVS_CONFIG). */
  file?: string;
  readFile?: (p: string) => string;
}

export function loadConfig(src: ConfigSources): Readonly<Config> {
  const flags = parseArgv(src.argv ?? []);
  const env = src.env ?? {};
  const filePath = flags.config ?? env.BGPVS_CONFIG ?? src.file;
  delete flags.config;
  const known = new Set<string>(Object.values(FIELDS));
  let file: Record<string, unknown> = {};
  if (filePath) {
    let text: string;
    try {
      text = (src.readFile ?? ((p) => readFileSync(p, 'utf8')))(filePath);
    } catch (err) {
      throw new ConfigError('--config', `cannot read ${filePath}`, { cause: err });
    }
    try {
      file = flatten(parseYaml(text));
    } catch (err) {
      throw new ConfigError(filePath, `not valid YAML: ${(err as Error).message}`, { cause: err });
    }
    for (const f of Object.keys(file)) if (!known.has(f)) throw new ConfigError(`${filePath}: ${f}`, 'unknown field');
  }
  /** The raw value and the name to blame in errors. */
  const get = (flag: string): [string, unknown] | undefined => {
    if (flags[flag] !== undefined) return [`--${flag}`, flags[flag]];
    const e = env[envName(flag)];
    if (e !== undefined && e !== '') return [envName(flag), e];
    if (file[flag] !== undefined) return [`${filePath}: ${flag}`, file[flag]];
    return undefined;
  };
  const str = <T>(flag: string, fn: (field: string, v: string) => T, dflt: T): T => {
    const g = get(flag);
    return g ? fn(g[0], String(g[1])) : dflt;
  };
  const opt = <T>(flag: string, fn: (field: string, v: string) => T): T | undefined => {
    const g = get(flag);
    return g ? fn(g[0], String(g[1])) : undefined;
  };
  const structured = (flag: string): [string, unknown] | undefined => {
    const g = get(flag);
    if (!g) return undefined;
    if (typeof g[1] !== 'string') return g;
    try {
      return [g[0], JSON.parse(g[1])];
    } catch (err) {
      throw new ConfigError(g[0], 'must be JSON', { cause: err });
    }
  };

  const nodeName = opt(FIELDS.nodeName, (_f, v) => v.trim()) ?? env.NODE_NAME;
  if (!nodeName) throw new ConfigError(`--${FIELDS.nodeName}`, 'required (or env NODE_NAME, from the downward API)');
  const metrics = str(FIELDS.metricsAddress, parseHostPort, { host: '127.0.0.1', port: 9254 });
  const health = opt(FIELDS.healthAddress, parseHostPort);
  const leaseNamespace = str(FIELDS.leaseNs, (_f, v) => v.trim(), 'bgpvs-system');
  const gobgpdRaw = str(FIELDS.gobgpd, (_f, v) => v.trim(), 'child:50051');
  let gobgpd: Config['bgp']['gobgpd'];
  if (gobgpdRaw.startsWith('child:')) gobgpd = { mode: 'child', grpcPort: parseInt(`--${FIELDS.gobgpd}`, gobgpdRaw.slice(6), 1, 65535) };
  else gobgpd = { mode: 'external', ...parseHostPort(`--${FIELDS.gobgpd}`, gobgpdRaw) };

  const peersRaw = structured(FIELDS.peers);
  const peers: StaticPeer[] = [];
  if (peersRaw) {
    const [field, list] = peersRaw;
    if (!Array.isArray(list)) throw new ConfigError(field, 'must be a list of peers');
    list.forEach((p: unknown, i) => peers.push(peerFromSpec(`${field}[${i}]`, p)));
  }
  const exportRaw = structured(FIELDS.exportCidrs);
  const exportCidrs: string[] = [];
  if (exportRaw) {
    const [field, list] = exportRaw;
    if (!Array.isArray(list)) throw new ConfigError(field, 'must be a list of CIDRs');
    list.forEach((c: unknown, i) => exportCidrs.push(parseCidr(`${field}[${i}]`, String(c))));
  }
  const removed = get(FIELDS.externalIpsRemoved);
  // `false` asks for what is now the default; `true` would silently mean something else.
  if (removed && parseBool(removed[0], String(removed[1]))) throw new ConfigError(removed[0], `removed: externalIPs are served only inside --${FIELDS.externalIpCidrs} (a list of CIDRs; empty, the default, serves none)`);
  const externalIpCidrs: string[] = [];
  const extRaw = get(FIELDS.externalIpCidrs);
  if (extRaw) {
    const [field, v] = extRaw;
    // A YAML list in the ConfigMap; a comma-separated list (or a JSON list) in a flag or env.
    let list: unknown = v;
    if (typeof v === 'string') list = v.trim().startsWith('[') ? structured(FIELDS.externalIpCidrs)?.[1] : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (!Array.isArray(list)) throw new ConfigError(field, 'must be a list of CIDRs');
    list.forEach((c: unknown, i) => externalIpCidrs.push(parseCidr(`${field}[${i}]`, String(c))));
  }
  const asn = opt(FIELDS.asn, parseAsn);
  if (asn === undefined) throw new ConfigError(`--${FIELDS.asn}`, 'required: the node\'s BGP ASN');

  const cfg: Config = {
    nodeName,
    ...(get(FIELDS.nodeAddress) ? { nodeAddress: str(FIELDS.nodeAddress, parseIp, '') } : {}),
    ...(get(FIELDS.kubeconfig) ? { kubeconfig: str(FIELDS.kubeconfig, (_f, v) => v, '') } : {}),
    logLevel: str(FIELDS.logLevel, (f, v) => parseEnum(f, v, ['trace', 'debug', 'info', 'warn', 'error'] as const), 'info'),
    metrics,
    ...(health ? { health } : {}),
    secretNamespace: str(FIELDS.secretNamespace, (_f, v) => v.trim(), leaseNamespace),
    resyncMs: str(FIELDS.resync, parseDuration, 300_000),
    dataplane: str(FIELDS.dataplane, (f, v) => parseEnum(f, v, ['auto', 'ipvs', 'nft'] as const), 'auto'),
    nft: {
      clusterMode: str(FIELDS.nftClusterMode, (f, v) => parseEnum(f, v, ['dsr', 'masquerade'] as const), 'dsr'),
      maglevSize: str(FIELDS.nftMaglevSize, parseMaglevSize, DEFAULT_BUCKETS),
    },
    podNetns: str(FIELDS.podNetns, parsePodNetns, { kind: 'crictl' } as PodNetnsSource),
    service: {
      loadBalancerClass: str(FIELDS.lbClass, (_f, v) => v.trim(), 'bgpvs.io/bgpvs'),
      handleClasslessServices: str(FIELDS.classless, parseBool, true),
      advertiseClusterIPs: str(FIELDS.clusterIps, parseBool, false),
      externalIpCidrs,
      defaultScheduler: str(FIELDS.scheduler, (f, v) => parseEnum(f, v, ['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh'] as const), 'mh'),
      defaultForwarding: str(FIELDS.forwarding, (f, v) => parseEnum(f, v, ['tunnel', 'dr', 'nat'] as const), 'nat'),
      maxPorts: str(FIELDS.maxPorts, (f, v) => parseInt(f, v, 1, 65535), DEFAULT_LIMITS.maxPorts),
      maxVirtualServers: str(FIELDS.maxVirtualServers, (f, v) => parseInt(f, v, 1, 1_000_000), DEFAULT_LIMITS.maxVirtualServers),
      maxBuckets: str(FIELDS.maxBuckets, (f, v) => parseInt(f, v, 1, 100_000_000), DEFAULT_LIMITS.maxBuckets),
    },
    bgp: {
      asn,
      ...(get(FIELDS.routerId) ? { routerId: str(FIELDS.routerId, parseIp, '') } : {}),
      listenPort: str(FIELDS.listenPort, (f, v) => parseInt(f, v, -1, 65535), -1),
      gobgpd,
      gracefulShutdownMs: str(FIELDS.drain, parseDuration, 10_000),
      coexistence: str(FIELDS.coexistence, (f, v) => parseEnum(f, v, ['dedicated', 'via-local-speaker', 'delegate'] as const), 'dedicated'),
      allowWriteCniConfig: str(FIELDS.allowWriteCni, parseBool, false),
      peers,
      exportCidrs,
    },
    ipam: leaseTimings({
      enabled: str(FIELDS.ipam, parseBool, true),
      poolMinPrefixLength: {
        IPv4: str(FIELDS.poolMinPrefixV4, (f, v) => parseInt(f, v, 1, 32), 16),
        IPv6: str(FIELDS.poolMinPrefixV6, (f, v) => parseInt(f, v, 1, 128), 64),
      },
      leaseNamespace,
      leaseName: 'bgpvs-ipam',
      leaseDurationMs: str(FIELDS.leaseDuration, parseDuration, 15_000),
      renewDeadlineMs: opt(FIELDS.renewDeadline, parseDuration),
      retryPeriodMs: opt(FIELDS.retryPeriod, parseDuration),
    }),
  };
  return deepFreeze(cfg);
}

/**
 * Lease timings: unset ones scale with the lease duration (15 s → renew 10 s, retry 2 s, as
 * client-go's defaults); the three must satisfy lease duration > renew deadline > retry
 * period, else the agent would act as leader after a successor could have taken the lease.
 */
function leaseTimings(i: Omit<Config['ipam'], 'renewDeadlineMs' | 'retryPeriodMs'> & { renewDeadlineMs: number | undefined; retryPeriodMs: number | undefined }): Config['ipam'] {
  const renewDeadlineMs = i.renewDeadlineMs ?? Math.round((i.leaseDurationMs * 2) / 3);
  const retryPeriodMs = i.retryPeriodMs ?? Math.max(1, Math.round(Math.min(renewDeadlineMs / 2, (i.leaseDurationMs * 2) / 15)));
  const flag = (f: string) => `--${f}`;
  if (!(retryPeriodMs > 0)) throw new ConfigError(flag(FIELDS.retryPeriod), `must be positive (got ${retryPeriodMs} ms)`);
  if (!(renewDeadlineMs > retryPeriodMs)) throw new ConfigError(flag(FIELDS.renewDeadline), `must be longer than --${FIELDS.retryPeriod} (${renewDeadlineMs} ms <= ${retryPeriodMs} ms)`);
  if (!(i.leaseDurationMs > renewDeadlineMs)) throw new ConfigError(flag(FIELDS.leaseDuration), `must be longer than --${FIELDS.renewDeadline} (${i.leaseDurationMs} ms <= ${renewDeadlineMs} ms)`);
  return { ...i, renewDeadlineMs, retryPeriodMs };
}

/** Maglev needs a prime table size; 7 is the smallest useful, 65521 keeps nft maps sane. */
function parseMaglevSize(field: string, v: string): number {
  const n = parseInt(field, v, 7, 65521);
  if (!isPrime(n)) throw new ConfigError(field, `must be a prime (e.g. 31, 61, 127, 251, 509, 1021): ${n}`);
  return n;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
