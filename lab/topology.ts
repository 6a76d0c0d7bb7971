/**
 * The lab topology: containerlab's file format, read into plain data (pure).
 * Only what the netns runner needs is kept; unknown keys are ignored as containerlab's own.
 */
import { parse } from 'yaml';
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../src/errors.js';

export type LabRole = 'router' | 'node' | 'client' | 'bridge';

export interface LabNode {
  name: string;
  role: LabRole;
  /** BGP ASN from the bgpvs.io/asn label (routers and nodes). */
  asn?: number;
  /** Pod CIDR from the bgpvs.io/pod-cidr label (nodes). */
  podCidr?: string;
  /** Host-side path of the file bound to /etc/frr/frr.conf (routers), relative to the topology file. */
  frrConfig?: string;
  /** Host-side path of the file bound to /etc/bird/bird.conf (routers running BIRD). */
  birdConfig?: string;
  /** Commands run inside the node after its links exist (containerlab's `exec`). */
  exec: string[][];
  /** First IPv4 address assigned by an `ip addr add` in exec (its main address). */
  address?: string;
}

export interface LabLink {
  a: { node: string; iface: string };
  b: { node: string; iface: string };
}

export interface LabTopology {
  name: string;
  nodes: LabNode[];
  links: LabLink[];
}

const ROLES = new Set<LabRole>(['router', 'node', 'client', 'bridge']);
const IFACE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;

function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(field, 'must be a mapping');
  return v as Record<string, unknown>;
}

/** Split a command line into argv (whitespace; no quoting needed by our exec lines). */
function argvOf(cmd: string, field: string): string[] {
  if (/["'`$|;&<>]/.test(cmd)) throw new ConfigError(field, `shell syntax is not supported in exec: ${cmd}`);
  return cmd.trim().split(/\s+/);
}

function bindFor(binds: unknown, target: string): string | undefined {
  if (!Array.isArray(binds)) return undefined;
  for (const b of binds) {
    if (typeof b !== 'string') continue;
    const [host, guest] = b.split(':');
    if (guest === target && host) return host;
  }
  return undefined;
}

export function parseTopology(text: string): LabTopology {
  const doc = obj(parse(text), 'topology file');
  const name = doc.name;
  if (typeof name !== 'string' || !/^[a-z0-9-]{1,20}$/.test(name)) throw new ConfigError('name', 'must be 1-20 of [a-z0-9-]');
  const topo = obj(doc.topology, 'topology');
  const rawNodes = obj(topo.nodes, 'topology.nodes');
  const nodes: LabNode[] = [];
  for (const [nodeName, raw] of Object.entries(rawNodes)) {
    const f = `topology.nodes.${nodeName}`;
    if (!/^[a-z0-9]{1,12}$/.test(nodeName)) throw new ConfigError(f, 'node names must be 1-12 of [a-z0-9]');
    const n = obj(raw ?? {}, f);
    const labels = n.labels === undefined ? {} : obj(n.labels, `${f}.labels`);
    const role = (n.kind === 'bridge' ? 'bridge' : labels['bgpvs.io/role']) as LabRole | undefined;
    if (!role || !ROLES.has(role)) throw new ConfigError(`${f}.labels.bgpvs.io/role`, 'must be router, node or client (or kind: bridge)');
    const node: LabNode = { name: nodeName, role, exec: [] };
    if (labels['bgpvs.io/asn'] !== undefined) {
      const asn = Number(labels['bgpvs.io/asn']);
      if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) throw new ConfigError(`${f}.labels.bgpvs.io/asn`, 'must be an ASN');
      node.asn = asn;
    }
    if (labels['bgpvs.io/pod-cidr'] !== undefined) {
      const c = String(labels['bgpvs.io/pod-cidr']);
      if (!ipaddr.isValidCIDR(c)) throw new ConfigError(`${f}.labels.bgpvs.io/pod-cidr`, `not a CIDR: ${c}`);
      node.podCidr = c;
    }
    const frr = bindFor(n.binds, '/etc/frr/frr.conf');
    if (frr) node.frrConfig = frr;
    const bird = bindFor(n.binds, '/etc/bird/bird.conf');
    if (bird) node.birdConfig = bird;
    if (n.exec !== undefined) {
      if (!Array.isArray(n.exec)) throw new ConfigError(`${f}.exec`, 'must be a list');
      n.exec.forEach((c, i) => {
        if (typeof c !== 'string') throw new ConfigError(`${f}.exec[${i}]`, 'must be a string');
        const argv = argvOf(c, `${f}.exec[${i}]`);
        node.exec.push(argv);
        const m = argv.join(' ').match(/^ip addr add (\S+)\/\d+ dev \S+$/);
        if (m && !node.address && ipaddr.IPv4.isValid(m[1]!)) node.address = m[1]!;
      });
    }
    if ((role === 'router' || role === 'node') && node.asn === undefined) throw new ConfigError(`${f}.labels.bgpvs.io/asn`, 'required for routers and nodes');
    nodes.push(node);
  }
  const names = new Set(nodes.map((n) => n.name));
  const rawLinks = topo.links ?? [];
  if (!Array.isArray(rawLinks)) throw new ConfigError('topology.links', 'must be a list');
  const used = new Set<string>();
  const links: LabLink[] = rawLinks.map((l, i) => {
    const f = `topology.links[${i}].endpoints`;
    const eps = obj(l, `topology.links[${i}]`).endpoints;
    if (!Array.isArray(eps) || eps.length !== 2) throw new ConfigError(f, 'must list two "node:iface" endpoints');
    const [a, b] = eps.map((e) => {
      const [node, iface, extra] = String(e).split(':');
      if (!node || !iface || extra !== undefined || !names.has(node)) throw new ConfigError(f, `bad endpoint ${String(e)}`);
      if (!IFACE_RE.test(iface)) throw new ConfigError(f, `bad interface name ${iface}`);
      const key = `${node}:${iface}`;
      if (used.has(key)) throw new ConfigError(f, `endpoint ${key} used twice`);
      used.add(key);
      return { node, iface };
    }) as [LabLink['a'], LabLink['b']];
    return { a, b };
  });
  return { name, nodes, links };
}
