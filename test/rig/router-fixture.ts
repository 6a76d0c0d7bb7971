/**
 * What the FRR and BIRD router smoke tests share: a router namespace `r` with a bridge to N
 * node namespaces, the node addressing, a teardown stack, and BGPVS_CAPTURE output capture
 * (the parsers' unit tests use captures of these runs).
 */
import type { TestContext } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetLab } from './netns.js';
import { toolPath } from './paths.js';

export const ROUTER = '10.0.0.1';
export const VIP = '10.100.0.10/32';

export const node = (i: number) => ({ ns: `n${i}`, ip: `10.0.0.${11 + i}`, asn: 65011 + i, name: `node${i}` });

/** Why the router test cannot run: the router's own reason, else a missing gobgpd/gobgp. */
export function routerTestSkipReason(routerSkip: string | undefined): string | undefined {
  if (routerSkip) return routerSkip;
  try {
    toolPath('gobgpd');
    toolPath('gobgp');
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** With BGPVS_CAPTURE=dir, write a live output there for the parsers' unit tests. */
export function capture(name: string, text: string | undefined): void {
  const dir = process.env.BGPVS_CAPTURE;
  if (!dir || text === undefined) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), text);
}

/** Stops what a test started, newest first, then removes its namespaces. */
export function teardown(t: TestContext, lab: NetLab): (() => Promise<void>)[] {
  const stack: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const f of stack.reverse()) await f().catch(() => undefined);
    await lab.destroy();
  });
  return stack;
}

/** Router `r` (forwarding) with br0 at ROUTER/24, bridged to `nodes` node namespaces. */
export async function topology(tag: string, nodes: number): Promise<NetLab> {
  const lab = await NetLab.create(tag);
  await lab.addNs('r', { forwarding: true });
  const ports: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const n = node(i);
    await lab.addNs(n.ns, { forwarding: true });
    await lab.link(n.ns, 'eth0', 'r', `p${i}`);
    await lab.addr(n.ns, 'eth0', `${n.ip}/24`);
    ports.push(`p${i}`);
  }
  await lab.bridge('r', 'br0', ports);
  await lab.addr('r', 'br0', `${ROUTER}/24`);
  return lab;
}
