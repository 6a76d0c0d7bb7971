/**
 * KubeApi: a real etcd + kube-apiserver on loopback for tests and the lab.
 *
 * Each instance gets a fresh directory (PKI, etcd data, logs, kubeconfigs, pid file) and free
 * loopback ports, so several can run at once. The API server authenticates an admin by a
 * client certificate (O=system:masters), authorizes with RBAC and signs ServiceAccount tokens,
 * so a test can run the agent as its own ServiceAccount (`tokenKubeConfig`).
 *
 * Leftovers: every started process is recorded in `<dir>/pids.json` together with the
 * owning process (PID + start time). A process exit handler kills this process's daemons;
 * `cleanLeftovers()` (run by every `start`) kills the daemons of owners that are gone and
 * removes their directories.
 */
import { closeSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { BgpvsError, TimeoutError } from '../../src/errors.js';
import { run as defaultRun, spawnDaemon, type Runner } from '../../src/exec/run.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { sleep } from '../../src/util/wait.js';
import { generateKubePki, type KubePki } from './pki.js';
import { toolPath } from './paths.js';

/** Prefix of the per-instance directories; `cleanLeftovers` looks only at these. */
export const kubeApiDirPrefix = 'bgpvs-kubeapi-';

export const defaultServiceClusterIpRange = '10.96.0.0/16,fd00:96::/108';

export interface KubeApiOptions {
  /** Parent directory of the instance's fresh directory (default: the OS temp dir). */
  dir?: string;
  logger?: Logger;
  /** Runs openssl; tests may hand another. */
  run?: Runner;
  /** `--service-cluster-ip-range`; the default is dual-stack. */
  serviceClusterIpRange?: string;
  /** Extra kube-apiserver flags, appended last (so they override ours). */
  extraApiServerArgs?: readonly string[];
  /** Time allowed for etcd and the API server to become ready (default 60 s). */
  readyTimeoutMs?: number;
  /** Keep the directory after `stop()` (for debugging; also env BGPVS_KEEP_RIG=1). */
  keepDir?: boolean;
}

export type KubeApiComponent = 'etcd' | 'kube-apiserver';

/** A component failed to start or become ready; carries the tail of its log. */
export class KubeApiError extends BgpvsError {
  readonly component: KubeApiComponent;
  readonly logFile: string;
  readonly logTail: string;
  constructor(component: KubeApiComponent, what: string, logFile: string, logTail: string, options?: { cause?: unknown }) {
    super(`${component}: ${what} (log ${logFile})\n--- last lines of ${component} log ---\n${logTail}`, options);
    this.component = component;
    this.logFile = logFile;
    this.logTail = logTail;
  }
}

export interface KubeApiPorts {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
}

export interface TokenOptions {
  /** Token lifetime (default one day; the API server's minimum is 600 s). */
  expirationSeconds?: number;
  /** Create the namespace and the ServiceAccount if missing (default true). */
  create?: boolean;
}

/** Seconds from `start()` to each milestone, for the record. */
export interface KubeApiTimings {
  pkiMs: number;
  etcdReadyMs: number;
  apiServerReadyMs: number;
  totalMs: number;
}

// ---------------------------------------------------------------------------------------
// Processes

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is parenthesized and may hold spaces: count from the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

interface PidRecord {
  name: string;
  pid: number;
  startTime: string;
}

interface PidFile {
  owner: { pid: number; startTime: string };
  processes: PidRecord[];
  /** Kept for debugging (`keepDir`): leftover processes are killed, the directory stays. */
  keep?: boolean;
}

const pidFileName = 'pids.json';

/** One daemon: spawned through exec/run, stopped by its PID only. */
class Daemon {
  private sub: ReturnType<typeof spawnDaemon> | undefined;
  private exit: Promise<void> | undefined;
  private exited = true;
  private stopped = false;
  pid: number | undefined;
  startTime: string | undefined;

  constructor(
    readonly name: KubeApiComponent,
    readonly argv: readonly string[],
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return !this.exited;
  }

  start(): void {
    const fd = openSync(this.logFile, 'a', 0o600);
    try {
      this.sub = spawnDaemon(this.argv, { logFd: fd });
    } finally {
      closeSync(fd);
    }
    const sub = this.sub;
    this.pid = sub.pid;
    this.exited = sub.pid === undefined;
    this.stopped = false;
    this.startTime = sub.pid === undefined ? undefined : processStartTime(sub.pid);
    this.exit = sub.then(
      (res) => {
        this.exited = true;
        if (res.failed && res.exitCode === undefined && !res.isTerminated) {
          // Could not spawn at all (ENOENT, EACCES): say so in the log the error will quote.
          try {
            writeFileSync(this.logFile, `${res.shortMessage}\n`, { flag: 'a' });
          } catch {
            /* the directory may be gone */
          }
        }
      },
      () => {
        this.exited = true;
      },
    );
    // The test process may exit while daemons run; its exit handler then kills them.
    sub.unref();
  }

  /** Freeze (SIGSTOP) or thaw (SIGCONT) the process, e.g. to simulate a hung API server. */
  signal(sig: NodeJS.Signals): void {
    if (this.pid !== undefined && !this.exited) process.kill(this.pid, sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped || this.pid === undefined) return;
    this.stopped = true;
    const pid = this.pid;
    if (!this.exited) {
      try {
        process.kill(pid, 'SIGCONT'); // a paused process would not see SIGTERM
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      if (!(await this.waitExit(graceMs))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        await this.waitExit(10_000);
      }
    }
  }

  /** Synchronous SIGKILL for the process exit handler. */
  killNow(): void {
    if (this.pid !== undefined && !this.exited) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (this.exited) return true;
    // A timer keeps the event loop alive while we wait (the child itself is unref'd).
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    const done = this.exit!.then(() => true);
    const ok = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** Resolves when the process exits (for racing against readiness). */
  exited$(): Promise<void> {
    return this.exit ?? Promise.resolve();
  }
}

/**
 * Live instances of this process, for the one `exit` handler. (Process exit handlers are
 * process-wide by nature; this is the only module-level state.)
 */
const live = new Set<KubeApi>();
let exitHandlerInstalled = false;
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const api of live) api.killNowForExit();
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

/** `n` distinct free TCP ports on 127.0.0.1 (held open together so they differ, then released). */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new BgpvsError('could not read a bound port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

interface HttpReply {
  status: number;
  body: string;
}

function httpGet(url: string, tls: { ca: string; cert: string; key: string } | undefined, timeoutMs: number): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(url, { method: 'GET', agent: false, timeout: timeoutMs, ...(tls ?? {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function keepDir(opts: KubeApiOptions): boolean {
  return opts.keepDir === true || process.env.BGPVS_KEEP_RIG === '1';
}

function errorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function writePidFile(dir: string, processes: PidRecord[], keep: boolean): void {
  const content: PidFile = {
    owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? '' },
    processes,
    ...(keep ? { keep } : {}),
  };
  writeFileSync(join(dir, pidFileName), JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
}

/**
 * Kill the daemons of instances whose owner process is gone, and remove their directories
 * (a directory kept with `keepDir` stays). Only PIDs whose start time still matches the
 * record are killed (never a reused PID), and only directories named `bgpvs-kubeapi-*`
 * holding a pid file are looked at. Returns the number of directories removed.
 */
export function cleanLeftovers(root: string = tmpdir(), logger: Logger = silentLogger()): number {
  let removed = 0;
  let entries: string[];
  try {
    entries = readdirSync(root).filter((e) => e.startsWith(kubeApiDirPrefix));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = join(root, entry);
    let record: PidFile;
    try {
      record = JSON.parse(readFileSync(join(dir, pidFileName), 'utf8')) as PidFile;
    } catch {
      continue; // not ours, or being created right now
    }
    if (processStartTime(record.owner.pid) === record.owner.startTime) continue; // owner alive
    for (const p of record.processes) {
      if (processStartTime(p.pid) !== p.startTime) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
        logger.info({ dir, daemon: p.name, pid: p.pid }, 'killed leftover process of a dead run');
      } catch {
        /* gone meanwhile */
      }
    }
    if (record.keep) {
      if (record.processes.length > 0) writeFileSync(join(dir, pidFileName), JSON.stringify({ ...record, processes: [] }, null, 2) + '\n');
      continue;
    }
    rmSync(dir, { recursive: true, force: true });
    logger.info({ dir, ownerPid: record.owner.pid }, 'removed leftover directory of a dead run');
    removed++;
  }
  return removed;
}

// ---------------------------------------------------------------------------------------
// KubeApi

export class KubeApi {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  /** Admin kubeconfig (client certificate, O=system:masters), data embedded. */
  readonly kubeconfigPath: string;
  /** How long `start()` took, by phase. */
  timings: KubeApiTimings = { pkiMs: 0, etcdReadyMs: 0, apiServerReadyMs: 0, totalMs: 0 };

  private readonly etcd: Daemon;
  private readonly apiServer: Daemon;
  private readonly log: Logger;
  private readonly tls: { ca: string; cert: string; key: string };
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly ports: KubeApiPorts,
    readonly pki: KubePki,
    private readonly opts: KubeApiOptions,
    logger: Logger,
  ) {
    this.url = `https://127.0.0.1:${ports.apiServer}`;
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    this.log = logger;
    this.tls = {
      ca: readFileSync(pki.caCert, 'utf8'),
      cert: readFileSync(pki.adminCert, 'utf8'),
      key: readFileSync(pki.adminKey, 'utf8'),
    };
    const etcdUrl = (port: number) => `http://127.0.0.1:${port}`;
    this.etcd = new Daemon(
      'etcd',
      [
        toolPath('etcd'),
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl(ports.etcdClient)}`,
        `--advertise-client-urls=${etcdUrl(ports.etcdClient)}`,
        `--listen-peer-urls=${etcdUrl(ports.etcdPeer)}`,
        `--initial-advertise-peer-urls=${etcdUrl(ports.etcdPeer)}`,
        `--initial-cluster=default=${etcdUrl(ports.etcdPeer)}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
    );
    this.apiServer = new Daemon(
      'kube-apiserver',
      [
        toolPath('kube-apiserver'),
        `--etcd-servers=${etcdUrl(ports.etcdClient)}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.apiServer}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPublicKey}`,
        `--service-account-signing-key-file=${pki.saPrivateKey}`,
        `--service-cluster-ip-range=${opts.serviceClusterIpRange ?? defaultServiceClusterIpRange}`,
        // No kube-controller-manager runs; the "kubernetes" Service keeps no endpoints.
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        '--profiling=false',
        ...(opts.extraApiServerArgs ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
  }

  /** Start etcd and kube-apiserver in a fresh directory; resolves once /readyz is ok. */
  static async start(opts: KubeApiOptions = {}): Promise<KubeApi> {
    const logger = (opts.logger ?? silentLogger()).child({ component: 'kube-api' });
    const root = opts.dir ?? tmpdir();
    cleanLeftovers(root, logger);
    // A port picked here can be taken by someone else before the daemon binds it: retry.
    for (let attempt = 1; ; attempt++) {
      const api = await KubeApi.create(root, opts, logger);
      try {
        await api.boot();
        return api;
      } catch (err) {
        await api.stop();
        const conflict = err instanceof KubeApiError && /address already in use/.test(err.logTail);
        if (!conflict || attempt >= 3) throw err;
        logger.warn({ attempt, err }, 'port taken before the daemon bound it; retrying on fresh ports');
      }
    }
  }

  private static async create(root: string, opts: KubeApiOptions, logger: Logger): Promise<KubeApi> {
    await mkdir(root, { recursive: true });
    const dir = await mkdtemp(join(root, kubeApiDirPrefix));
    try {
      writePidFile(dir, [], keepDir(opts));
      const t0 = Date.now();
      const [etcdClient, etcdPeer, apiServer] = (await freeLoopbackPorts(3)) as [number, number, number];
      const pki = await generateKubePki(join(dir, 'pki'), { run: opts.run ?? defaultRun });
      const api = new KubeApi(dir, { etcdClient, etcdPeer, apiServer }, pki, opts, logger.child({ dir }));
      api.timings.pkiMs = Date.now() - t0;
      return api;
    } catch (err) {
      if (!keepDir(opts)) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async boot(): Promise<void> {
    const t0 = Date.now() - this.timings.pkiMs;
    live.add(this);
    installExitHandler();
    this.startDaemon(this.etcd);
    await writeFile(this.kubeconfigPath, this.adminKubeconfigYaml(), { mode: 0o600 });
    // The API server retries etcd while it initializes, so both start at once (~0.5 s saved);
    // a failing etcd is still reported as such, with its log.
    const etcdReady = this.waitReady(this.etcd, `http://127.0.0.1:${this.ports.etcdClient}/health`, undefined, (r) => r.status === 200 && /"health":\s*"true"/.test(r.body)).then(() => {
      this.timings.etcdReadyMs = Date.now() - t0;
    });
    const apiReady = this.startApiServer().then(() => {
      this.timings.apiServerReadyMs = Date.now() - t0;
    });
    await Promise.all([etcdReady, apiReady]);
    this.timings.totalMs = this.timings.apiServerReadyMs;
    this.log.info({ url: this.url, timings: this.timings }, 'kube-apiserver ready');
  }

  /** Pids of the running daemons (undefined when stopped). */
  pids(): { etcd: number | undefined; apiServer: number | undefined } {
    return {
      etcd: this.etcd.running ? this.etcd.pid : undefined,
      apiServer: this.apiServer.running ? this.apiServer.pid : undefined,
    };
  }

  /** Admin KubeConfig (system:masters). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /**
   * A ServiceAccount token from the TokenRequest API (creating the namespace and the
   * ServiceAccount first unless `create: false`).
   */
  async serviceAccountToken(namespace: string, serviceAccount: string, opts: TokenOptions = {}): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    if (opts.create ?? true) {
      await ignoreConflict(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
      await ignoreConflict(() => core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }));
    }
    const tr = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 86_400 } },
    });
    const token = tr.status?.token;
    if (!token) throw new BgpvsError(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
    return token;
  }

  /** A KubeConfig that authenticates as the ServiceAccount (bearer token; no admin rights). */
  async tokenKubeConfig(namespace: string, serviceAccount: string, opts: TokenOptions = {}): Promise<KubeConfig> {
    const token = await this.serviceAccountToken(namespace, serviceAccount, opts);
    const kc = new KubeConfig();
    kc.loadFromString(this.tokenKubeconfigYaml(namespace, serviceAccount, token));
    return kc;
  }

  /** The same as `tokenKubeConfig`, written to a file in the instance directory (for a child process). */
  async tokenKubeconfigFile(namespace: string, serviceAccount: string, opts: TokenOptions = {}): Promise<string> {
    const token = await this.serviceAccountToken(namespace, serviceAccount, opts);
    const path = join(this.dir, `sa-${namespace}-${serviceAccount}.kubeconfig`);
    await writeFile(path, this.tokenKubeconfigYaml(namespace, serviceAccount, token), { mode: 0o600 });
    return path;
  }

  /** Stop only the API server (SIGTERM, then SIGKILL); etcd and its data stay. */
  async stopApiServer(graceMs = 5_000): Promise<void> {
    await this.apiServer.stop(graceMs);
    this.recordPids();
    this.log.info({ url: this.url }, 'kube-apiserver stopped');
  }

  /** (Re)start the API server on the same port with the same certificates; resolves when ready. */
  async startApiServer(): Promise<void> {
    if (this.stopping) throw new BgpvsError(`KubeApi in ${this.dir} was stopped; start a new one`);
    if (this.apiServer.running) return;
    const t0 = Date.now();
    this.startDaemon(this.apiServer);
    await this.waitReady(this.apiServer, `${this.url}/readyz`, this.tls, (r) => r.status === 200);
    this.log.info({ url: this.url, ms: Date.now() - t0 }, 'kube-apiserver started');
  }

  /** Freeze the API server (SIGSTOP): connections hang instead of being refused. */
  pauseApiServer(): void {
    this.apiServer.signal('SIGSTOP');
  }

  /** Thaw a paused API server (SIGCONT). */
  resumeApiServer(): void {
    this.apiServer.signal('SIGCONT');
  }

  /**
   * Kill both daemons (by PID: SIGTERM, then SIGKILL after `graceMs`) and remove the
   * directory. Idempotent. The short default grace saves ~0.8 s per instance: the API server
   * lingers ~1 s after SIGTERM, and nothing of a throwaway instance needs a clean shutdown.
   */
  stop(graceMs = 500): Promise<void> {
    this.stopping ??= (async () => {
      await this.apiServer.stop(graceMs);
      await this.etcd.stop(graceMs);
      live.delete(this);
      if (keepDir(this.opts)) {
        this.recordPids();
        this.log.info({ dir: this.dir }, 'kube-api stopped; directory kept');
      } else {
        await rm(this.dir, { recursive: true, force: true });
        this.log.info({}, 'kube-api stopped');
      }
    })();
    return this.stopping;
  }

  /** Last lines of a component's log. */
  logTail(component: KubeApiComponent, lines = 40): Promise<string> {
    return tail(component === 'etcd' ? this.etcd.logFile : this.apiServer.logFile, lines);
  }

  /** @internal Synchronous cleanup from the process exit handler. */
  killNowForExit(): void {
    this.apiServer.killNow();
    this.etcd.killNow();
    if (!keepDir(this.opts)) rmSync(this.dir, { recursive: true, force: true });
  }

  private startDaemon(d: Daemon): void {
    d.start();
    this.recordPids();
    this.log.debug({ daemon: d.name, pid: d.pid }, 'process started');
  }

  private recordPids(): void {
    const procs: PidRecord[] = [];
    for (const d of [this.etcd, this.apiServer]) {
      if (d.running && d.pid !== undefined && d.startTime !== undefined) procs.push({ name: d.name, pid: d.pid, startTime: d.startTime });
    }
    try {
      writePidFile(this.dir, procs, keepDir(this.opts));
    } catch {
      /* directory removed */
    }
  }

  /** Poll `url` until `ok`, failing at once (with the log tail) if the daemon exits. */
  private async waitReady(d: Daemon, url: string, tls: { ca: string; cert: string; key: string } | undefined, ok: (r: HttpReply) => boolean): Promise<void> {
    const timeoutMs = this.opts.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    let exited = false;
    void d.exited$().then(() => (exited = true));
    for (;;) {
      if (exited || !d.running) {
        throw new KubeApiError(d.name, `exited before it was ready (last probe: ${last})`, d.logFile, await tail(d.logFile));
      }
      const before = last;
      try {
        const r = await httpGet(url, tls, 2_000);
        if (ok(r)) return;
        last = `HTTP ${r.status}: ${r.body.trim().split('\n').filter((l) => !l.endsWith(' ok')).slice(0, 8).join('; ')}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (last !== before) this.log.debug({ daemon: d.name, probe: last }, 'not ready yet');
      if (Date.now() > deadline) {
        const cause = new TimeoutError(`${d.name} ready at ${url}`, timeoutMs);
        throw new KubeApiError(d.name, `not ready after ${timeoutMs} ms (last probe: ${last})`, d.logFile, await tail(d.logFile), { cause });
      }
      await sleep(100);
    }
  }

  private adminKubeconfigYaml(): string {
    const b64 = (pem: string) => Buffer.from(pem).toString('base64');
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'bgpvs-test', cluster: { server: this.url, 'certificate-authority-data': b64(this.tls.ca) } }],
      users: [{ name: 'admin', user: { 'client-certificate-data': b64(this.tls.cert), 'client-key-data': b64(this.tls.key) } }],
      contexts: [{ name: 'admin', context: { cluster: 'bgpvs-test', user: 'admin', namespace: 'default' } }],
      'current-context': 'admin',
    });
  }

  private tokenKubeconfigYaml(namespace: string, serviceAccount: string, token: string): string {
    const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'bgpvs-test', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.tls.ca).toString('base64') } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'bgpvs-test', user, namespace } }],
      'current-context': user,
    });
  }
}

async function ignoreConflict(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (err) {
    if (errorCode(err) !== 409) throw err;
  }
}

/** Who the API server thinks a KubeConfig is (SelfSubjectReview). */
export async function whoAmI(kc: KubeConfig): Promise<{ username: string; groups: string[] }> {
  const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
  return { username: review.status?.userInfo?.username ?? '', groups: review.status?.userInfo?.groups ?? [] };
}
