/**
 * The CRDs' own openAPIV3Schema (daemonset/crds/*.yaml, carried by crd-schemas.generated.ts)
 * checked with ajv: the one shape of a BGPPeer spec and an IPPool spec, whether it comes from
 * the API server or from --bgp.peers / the ConfigMap. Pure.
 *
 * What the API server does beyond the schema keywords, done here the same way:
 *  - defaults (`default:`) are filled in, on a copy;
 *  - `x-kubernetes-list-type: set` lists must not repeat an item;
 *  - unknown fields are errors, as under kubectl's strict field validation (the API server
 *    prunes them from stored objects, so only static config can carry one).
 * What it does not do: the CEL rules (`x-kubernetes-validations`). Each object's semantic
 * function re-checks those (config/peer.ts, ipam/pools.ts); test/unit/crd-schemas.test.ts
 * holds one case per rule.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError } from '../errors.js';
import { BGPPEER_SPEC_SCHEMA, IPPOOL_SPEC_SCHEMA, type BGPPeerSpec, type IPPoolSpec } from './crd-schemas.generated.js';

export type { BGPPeerSpec, IPPoolSpec } from './crd-schemas.generated.js';

interface Specs {
  BGPPeer: BGPPeerSpec;
  IPPool: IPPoolSpec;
}
const SCHEMAS: { [K in keyof Specs]: Readonly<Record<string, unknown>> } = { BGPPeer: BGPPEER_SPEC_SCHEMA, IPPool: IPPOOL_SPEC_SCHEMA };

/** Kubernetes' structural-schema extensions, declared so ajv's strict mode still catches typos in the rest. */
const K8S_KEYWORDS = ['x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource'];

/** A copy of an OpenAPI schema with the API server's implicit rules made explicit (see the file comment). */
function asApiServer(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(asApiServer);
  if (!s || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === 'x-kubernetes-validations' || k === 'enum' || k === 'default' ? v : asApiServer(v);
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  if (out.type === 'array' && out['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  return out;
}

let ajv: Ajv | undefined;
const validators: { [K in keyof Specs]?: ValidateFunction<Specs[K]> } = {};

/** Compiled on first use, one kind at a time (ajv compiles a schema to a function; start-up reads only peers). */
function compiled<K extends keyof Specs>(kind: K): ValidateFunction<Specs[K]> {
  if (!ajv) {
    ajv = new Ajv({ useDefaults: true, verbose: true, strict: true, allErrors: false });
    for (const keyword of K8S_KEYWORDS) ajv.addKeyword({ keyword });
  }
  validators[kind] ??= ajv.compile<Specs[K]>(asApiServer(SCHEMAS[kind]) as Record<string, unknown>) as (typeof validators)[K];
  return validators[kind] as ValidateFunction<Specs[K]>;
}

/**
 * `raw` checked against the CRD's spec schema, with its defaults filled in (on a copy); else a
 * ConfigError naming the field under `field` (`spec`, `--bgp.peers[0]`, …) and what is wrong.
 */
export function checkSpec<K extends keyof Specs>(kind: K, field: string, raw: unknown): Specs[K] {
  const v = compiled(kind);
  const copy: unknown = raw === undefined ? undefined : structuredClone(raw);
  if (v(copy)) return copy;
  const e = v.errors?.[0];
  if (!e) throw new ConfigError(field, 'invalid');
  const [where, what] = describe(e);
  throw new ConfigError(`${field}${where}`, what);
}

const MAX_ECHO = 64;
/** A value as echoed in an error: JSON, cut to a bounded length (it may come from a tenant). */
function echo(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}…` : s;
}

/** `/bfd/minRxMs` → `.bfd.minRxMs`, `/families/0` → `[0]`, odd keys in brackets. */
export function fieldPath(instancePath: string): string {
  if (!instancePath) return '';
  return instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((k) => (/^\d+$/.test(k) ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`))
    .join('');
}

const ARTICLE: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false' };

function oneOf(values: readonly unknown[]): string {
  const s = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  return s.length > 1 ? `${s.slice(0, -1).join(', ')} or ${s.at(-1)}` : (s[0] ?? '');
}

/** One ajv error → [field suffix, message], in the words the hand-written checks used. */
function describe(e: ErrorObject): [string, string] {
  const at = fieldPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return [`${at}${fieldPath(`/${String(p.missingProperty)}`)}`, 'required'];
    case 'additionalProperties':
      return [`${at}${fieldPath(`/${String(p.additionalProperty)}`)}`, 'unknown field'];
    case 'type':
      return [at, `must be ${ARTICLE[String(p.type)] ?? String(p.type)}: ${echo(e.data)}`];
    case 'enum':
      return [at, `${echo(e.data)} is not ${oneOf(p.allowedValues as unknown[])}`];
    case 'minimum':
    case 'maximum':
      if (typeof parent.minimum === 'number' && typeof parent.maximum === 'number') return [at, `must be between ${parent.minimum} and ${parent.maximum}: ${echo(e.data)}`];
      return [at, `must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p.limit)}: ${echo(e.data)}`];
    case 'minItems':
      return [at, p.limit === 1 ? 'must be a non-empty list' : `must have at least ${String(p.limit)} items`];
    case 'maxItems':
      return [at, `must have at most ${String(p.limit)} items`];
    case 'maxLength':
      return [at, `must be at most ${String(p.limit)} characters long`];
    case 'pattern':
      return [at, `${echo(e.data)} does not match ${String(p.pattern)}`];
    case 'uniqueItems':
      return [at, `items ${String(p.j)} and ${String(p.i)} are the same: ${echo((e.data as unknown[])[Number(p.i)])}`];
    default:
      return [at, e.message ?? e.keyword];
  }
}
