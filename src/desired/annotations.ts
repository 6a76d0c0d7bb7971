/** bgpvs.io/ annotations on a Service → typed settings, or the reason they are invalid. */
import type { ForwardingMethod, Scheduler, SchedulerFlag } from '../model/types.js';
import type { ModelConfig } from './config.js';
import { quote } from '../util/text.js';

export const ANNOTATION_SCHEDULER = 'bgpvs.io/scheduler';
export const ANNOTATION_SCHEDULER_FLAGS = 'bgpvs.io/scheduler-flags';
export const ANNOTATION_FORWARDING = 'bgpvs.io/forwarding';
export const ANNOTATION_ADVERTISE_CLUSTER_IP = 'bgpvs.io/advertise-cluster-ip';

const SCHEDULERS: readonly Scheduler[] = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh'];
const FORWARDING: readonly ForwardingMethod[] = ['tunnel', 'dr', 'nat'];
/** Flags each scheduler accepts (IPVS flag-1 fallback, flag-2 port exist only for sh and mh). */
const FLAGS_BY_SCHEDULER: Readonly<Record<Scheduler, readonly SchedulerFlag[]>> = {
  rr: [],
  wrr: [],
  lc: [],
  wlc: [],
  sh: ['sh-fallback', 'sh-port'],
  mh: ['mh-fallback', 'mh-port'],
};

export interface ServiceSettings {
  scheduler: Scheduler;
  schedulerFlags: readonly SchedulerFlag[];
  forwarding: ForwardingMethod;
  advertiseClusterIPs: boolean;
}

export type SettingsResult = { ok: true; settings: ServiceSettings } | { ok: false; reason: `invalidAnnotation: ${string}` };

const invalid = (key: string, why: string): SettingsResult => ({ ok: false, reason: `invalidAnnotation: ${key}: ${why}` });

function oneOf<T extends string>(v: string, allowed: readonly T[]): T | undefined {
  return (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
}

/** Never throws: an invalid value yields `invalidAnnotation: <key>: <why>`. */
export function parseServiceSettings(annotations: Readonly<Record<string, string>> | undefined, cfg: ModelConfig): SettingsResult {
  const a = annotations ?? {};
  let scheduler = cfg.defaultScheduler;
  let schedulerFlags: readonly SchedulerFlag[] = cfg.defaultSchedulerFlags;
  const rawScheduler = a[ANNOTATION_SCHEDULER];
  if (rawScheduler !== undefined) {
    const s = oneOf(rawScheduler.trim(), SCHEDULERS);
    if (!s) return invalid(ANNOTATION_SCHEDULER, `${quote(rawScheduler)} is not one of ${SCHEDULERS.join(', ')}`);
    scheduler = s;
    schedulerFlags = [];
  }
  const rawFlags = a[ANNOTATION_SCHEDULER_FLAGS];
  if (rawFlags !== undefined) {
    const allowed = FLAGS_BY_SCHEDULER[scheduler];
    const flags = new Set<SchedulerFlag>();
    for (const part of rawFlags.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const f = oneOf(part, allowed);
      if (!f) {
        const why = allowed.length === 0 ? `scheduler ${scheduler} takes no flags` : `${quote(part)} is not one of ${allowed.join(', ')}`;
        return invalid(ANNOTATION_SCHEDULER_FLAGS, why);
      }
      flags.add(f);
    }
    schedulerFlags = [...flags].sort();
  }
  let forwarding = cfg.defaultForwarding;
  const rawForwarding = a[ANNOTATION_FORWARDING];
  if (rawForwarding !== undefined) {
    const f = oneOf(rawForwarding.trim(), FORWARDING);
    if (!f) return invalid(ANNOTATION_FORWARDING, `${quote(rawForwarding)} is not one of ${FORWARDING.join(', ')}`);
    forwarding = f;
  }
  let advertiseClusterIPs = cfg.advertiseClusterIPs;
  const rawAdv = a[ANNOTATION_ADVERTISE_CLUSTER_IP];
  if (rawAdv !== undefined) {
    const v = rawAdv.trim();
    if (v !== 'true' && v !== 'false') return invalid(ANNOTATION_ADVERTISE_CLUSTER_IP, `${quote(rawAdv)} is not "true" or "false"`);
    advertiseClusterIPs = v === 'true';
  }
  return { ok: true, settings: { scheduler, schedulerFlags, forwarding, advertiseClusterIPs } };
}
