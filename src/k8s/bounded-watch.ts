/**
 * A watch that cannot hang. client-node 1.x's Watch sets no timeout at all: no
 * `timeoutSeconds` (the server picks 30-60 min), no limit on waiting for the response
 * headers, and nothing notices a connection that went quiet because the server or the path
 * to it is gone without a FIN (only TCP keepalive, ~11 min). A ListWatch on such a watch
 * sees nothing, reports nothing, and its cache silently stops following the cluster.
 *
 * This one has the same shape (ListWatch takes it in place of client-node's Watch) and
 * bounds every phase:
 *   - the response headers must come within `headersTimeoutMs`, else the attempt fails
 *     (an error: the caller's restart-with-backoff takes over);
 *   - the server ends the watch after `timeoutSeconds` (ListWatch then re-watches from its
 *     resourceVersion: no re-list);
 *   - bookmarks are asked for, and a watch that has received nothing (not even a bookmark)
 *     for `idleMs` is closed by us, as is one that outlives `timeoutSeconds` by a margin.
 */
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { BgpvsError } from '../errors.js';
import { systemClock, type Clock, type Random, type TimerHandle } from '../util/clock.js';

export interface BoundedWatchOptions {
  /** Server-side watch length (default 300 s; a little randomised so watches do not all restart at once). */
  timeoutSeconds?: number;
  /** Response headers must arrive within this (default 30 s). */
  headersTimeoutMs?: number;
  /** Close a watch that has been silent this long (default: timeoutSeconds + 30 s). */
  idleMs?: number;
  /** Applied to every object before the callback sees it (e.g. drop fields a cache does not need). */
  transform?: (o: unknown) => unknown;
}

export class WatchHttpError extends BgpvsError {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

type Done = (err: unknown) => void;
type Callback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** Time and randomness for BoundedWatch (the system clock and Math.random by default). */
export interface BoundedWatchDeps {
  clock?: Clock;
  /** Uniform in [0, 1): the timeoutSeconds spread. */
  random?: Random;
}

export class BoundedWatch {
  private readonly clock: Clock;
  private readonly random: Random;

  constructor(
    private readonly kc: KubeConfig,
    private readonly o: BoundedWatchOptions = {},
    deps: BoundedWatchDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
  }

  /** Same contract as client-node's Watch.watch: `done` is called exactly once, unless the returned controller is aborted first. */
  async watch(path: string, queryParams: Record<string, unknown>, callback: Callback, done: Done): Promise<AbortController> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new BgpvsError('no current cluster in the kubeconfig');
    const base = this.o.timeoutSeconds ?? 300;
    const timeoutSeconds = Math.max(1, Math.round(base * (0.9 + this.random() * 0.1)));
    const url = new URL(cluster.server + path);
    url.searchParams.set('watch', 'true');
    url.searchParams.set('allowWatchBookmarks', 'true');
    url.searchParams.set('timeoutSeconds', String(timeoutSeconds));
    for (const [k, v] of Object.entries(queryParams)) if (v !== undefined) url.searchParams.set(k, String(v));

    const opts: https.RequestOptions & { headers?: Record<string, string> } = {};
    await this.kc.applyToHTTPSOptions(opts);
    const controller = new AbortController();
    const idleMs = this.o.idleMs ?? (timeoutSeconds + 30) * 1000;
    let finished = false;
    let idleTimer: TimerHandle | undefined;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      this.clock.clearTimeout(idleTimer);
      this.clock.clearTimeout(headersTimer);
      req.destroy();
      done(err);
    };
    const touch = () => {
      this.clock.clearTimeout(idleTimer);
      idleTimer = this.clock.setTimeout(() => finish(null), idleMs);
    };
    // The caller aborts when it is done with this watch (stop, or it starts another): no more callbacks.
    controller.signal.addEventListener('abort', () => {
      finished = true;
      this.clock.clearTimeout(idleTimer);
      this.clock.clearTimeout(headersTimer);
      req.destroy();
    });
    const headersTimeoutMs = this.o.headersTimeoutMs ?? 30_000;
    const headersTimer = this.clock.setTimeout(() => finish(new BgpvsError(`watch ${path}: no response within ${headersTimeoutMs} ms`)), headersTimeoutMs);

    const request = url.protocol === 'http:' ? http.request : https.request;
    const req: http.ClientRequest = request(url, { agent: opts.agent, headers: opts.headers, auth: opts.auth, method: 'GET' }, (res) => {
      this.clock.clearTimeout(headersTimer);
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body = (body + c).slice(0, 512)));
        res.on('end', () => finish(new WatchHttpError(res.statusCode ?? 0, `watch ${path}: HTTP ${res.statusCode}: ${body.trim()}`)));
        res.on('error', finish);
        return;
      }
      touch();
      res.on('error', finish);
      res.on('close', () => finish(null));
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      // readline re-emits the response's errors (e.g. "aborted" when the watch is stopped).
      lines.on('error', finish);
      lines.on('line', (line) => {
        if (finished) return;
        touch();
        let ev: { type?: string; object?: unknown };
        try {
          ev = JSON.parse(line) as { type?: string; object?: unknown };
        } catch {
          return;
        }
        if (!ev.type) return;
        const obj = this.o.transform && ev.object ? this.o.transform(ev.object) : ev.object;
        callback(ev.type, obj, { ...ev, object: obj });
      });
      lines.on('close', () => finish(null));
    });
    req.on('error', finish);
    req.end();
    return controller;
  }
}
