/**
 * Kubernetes Events on the objects we act on (core/v1 Events: what `kubectl describe` shows).
 * Repeats of the same (object, reason, message) within `repeatAfterMs` are dropped, so
 * passes that keep failing for the same reason do not flood the API server. Writes are
 * queued with a small concurrency and never block a reconcile pass.
 */
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { clip } from '../util/text.js';

export interface EventTarget {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export interface EventSink {
  create(namespace: string, ev: CoreV1Event): Promise<unknown>;
}

export function coreEventSink(kc: KubeConfig): EventSink {
  const api = kc.makeApiClient(CoreV1Api);
  return { create: (namespace, body) => api.createNamespacedEvent({ namespace, body }) };
}

export interface EventRecorderOptions {
  sink: EventSink;
  component: string;
  instance: string;
  logger: Logger;
  repeatAfterMs?: number;
  concurrency?: number;
  /** Events waiting to be written beyond this are dropped (and not remembered, so a later pass retries them). */
  maxQueued?: number;
  now?: () => number;
}

export class EventRecorder {
  private readonly sent = new Map<string, { key: string; at: number }>();
  private readonly queue: (() => Promise<void>)[] = [];
  private active = 0;
  private drainWaiters: (() => void)[] = [];
  private n = 0;
  private dropped = 0;

  constructor(private readonly o: EventRecorderOptions) {}

  /** Record an event unless the same one was recorded for this object recently. */
  record(target: EventTarget, type: 'Normal' | 'Warning', rawReason: string, rawMessage: string): void {
    // Messages quote what tenants wrote: bounded, whatever the caller passed.
    const reason = clip(rawReason, 128);
    const message = clip(rawMessage, 1024);
    const now = (this.o.now ?? Date.now)();
    const objKey = `${target.kind}/${target.namespace}/${target.name}`;
    const dedupe = `${type}|${reason}|${message}`;
    const last = this.sent.get(objKey);
    if (last && last.key === dedupe && now - last.at < (this.o.repeatAfterMs ?? 600_000)) return;
    if (this.queue.length >= (this.o.maxQueued ?? 1_000)) {
      if (this.dropped++ === 0) this.o.logger.warn({ queued: this.queue.length }, 'event queue full; dropping events until it drains');
      return;
    }
    this.sent.set(objKey, { key: dedupe, at: now });
    const ts = new Date(now);
    const ev: CoreV1Event = {
      metadata: { name: `${target.name}.${now.toString(16)}${(this.n++).toString(16)}`, namespace: target.namespace },
      involvedObject: { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name, uid: target.uid, resourceVersion: target.resourceVersion },
      type,
      reason,
      message,
      source: { component: this.o.component },
      reportingComponent: this.o.component,
      reportingInstance: this.o.instance,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    this.enqueue(async () => {
      try {
        await this.o.sink.create(target.namespace, ev);
      } catch (err) {
        this.o.logger.warn({ err, obj: objKey, reason }, 'event not recorded');
      }
    });
  }

  /** Forget an object (deleted), so its next event is not suppressed. */
  forget(kind: string, namespace: string, name: string): void {
    this.sent.delete(`${kind}/${namespace}/${name}`);
  }

  knownObjects(): IterableIterator<string> {
    return this.sent.keys();
  }

  forgetKey(objKey: string): void {
    this.sent.delete(objKey);
  }

  /** Resolves once every queued event has been written (tests, shutdown). */
  drain(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < (this.o.concurrency ?? 4) && this.queue.length > 0) {
      const job = this.queue.shift() as () => Promise<void>;
      this.active++;
      void job().finally(() => {
        this.active--;
        this.pump();
        if (this.active === 0 && this.queue.length === 0) {
          if (this.dropped > 0) this.o.logger.warn({ dropped: this.dropped }, 'event queue drained');
          this.dropped = 0;
          const w = this.drainWaiters;
          this.drainWaiters = [];
          for (const f of w) f();
        }
      });
    }
  }
}
