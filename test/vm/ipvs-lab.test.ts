/**
 * End to end with the IPVS data plane (issue 7: "scenarios 1 and 2 also run with IPVS in the
 * VM"): one VM boot on Debian's stock kernel runs test/vm/guest/ipvs-lab.ts — the real
 * etcd + kube-apiserver, FRR as router, a client, two nodes each running a real
 * `bgpvs agent --dataplane=ipvs` with lab pods — and hands back JSON; every check is here.
 * TCG is slow: the boot, API server start and each step are reported as diagnostics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelVm, VmError } from '../rig/kernel-vm.js';
import { guestNode } from '../rig/guest-build.js';
import { frrSkipReason } from '../rig/frr-router.js';
import { toolPath } from '../rig/paths.js';

const unavailable =
  KernelVm.unavailableReason() ??
  frrSkipReason() ??
  (['etcd', 'kube-apiserver', 'gobgpd'] as const).map((t) => (existsSync(toolPath(t)) ? undefined : `${toolPath(t)} missing: run scripts/setup.sh`)).find(Boolean);
const skip = unavailable ? `IPVS lab VM test skipped: ${unavailable}` : false;

interface Real { addr: string; conns: number; inPkts: number; outPkts: number }
interface NodeState {
  save: string;
  vs: { service?: { conns: number; inPkts: number; outPkts: number }; reals: Real[] };
  vips: string[];
  acceptLocal: string;
}
interface Scenario {
  vip: string;
  provisionMs: number;
  nexthops: string[];
  seen: Record<string, number>;
  node1: NodeState;
  node2: NodeState;
  pods: Record<string, string[]>;
  podIps?: Record<string, string>;
  atMs: number;
}
interface GuestResult {
  ok?: boolean;
  error?: string;
  steps: string[];
  guestUptimeAtStartMs: number;
  labUp?: { ms: number; kubeApi: { etcdReadyMs: number; apiServerReadyMs: number; totalMs: number }; nodes: string[] };
  agentsUp?: { ms: number; agents: unknown };
  agentStarts?: unknown;
  scenario1?: Scenario;
  scenario2?: Scenario;
  natFallback?: Omit<Scenario, 'node2' | 'pods' | 'nexthops'>;
  totalMs?: number;
}

const CLIENT = '192.168.100.10';
const TIMEOUT_MS = 2_400_000;

test('IPVS in the VM, end to end: real agents, API server and FRR; Cluster + tunnel and Local + DR with direct return', { skip, timeout: TIMEOUT_MS + 60_000 }, async (t) => {
  const share = await mkdtemp(join(tmpdir(), 'bgpvs-vmlab-'));
  t.after(() => rm(share, { recursive: true, force: true }));
  // The guest runs etcd, kube-apiserver, FRR, two agents with gobgpd, pods: memory for all;
  // two vCPUs so the guest's many processes are not serialised on one.
  const vm = new KernelVm({ memoryMiB: 3072, cpus: 2 });
  let r: GuestResult | undefined;
  const load = async () => {
    try {
      r = JSON.parse(await readFile(join(share, 'lab.json'), 'utf8')) as GuestResult;
    } catch {
      r = undefined;
    }
  };
  const agentLogs = async () => {
    const out: string[] = [];
    for (const n of ['node1', 'node2']) {
      const text = await readFile(join(share, 'agents', `agent-${n}.log`), 'utf8').catch(() => '');
      out.push(`--- agent-${n}.log (last lines)`, ...text.trim().split('\n').slice(-15));
    }
    return out.join('\n');
  };
  const command = `${await guestNode('test/vm/guest/ipvs-lab.ts')} "$SHARE/lab.json" "$SHARE"`;
  try {
    const res = await vm.run(command, { shareDir: share, env: { SHARE: share }, timeoutMs: TIMEOUT_MS });
    t.diagnostic(`VM wall ${res.timings.wallMs} ms: boot ${res.timings.bootMs} ms, guest command ${res.timings.commandMs} ms`);
  } catch (err) {
    await load();
    const partial = r ? `steps done: ${r.steps.join(', ')}; ${JSON.stringify({ labUp: r.labUp, agentsUp: r.agentsUp, agentStarts: r.agentStarts })}` : 'no guest result';
    throw new Error(`${err instanceof VmError ? err.message : String(err)}\n${partial}\n${await agentLogs()}`, { cause: err });
  }
  await load();
  assert.ok(r, 'guest wrote its result');
  const g = r;
  if (g.labUp) t.diagnostic(`lab up ${g.labUp.ms} ms (etcd ready ${g.labUp.kubeApi.etcdReadyMs} ms, kube-apiserver ready ${g.labUp.kubeApi.apiServerReadyMs} ms)`);
  if (g.agentsUp) t.diagnostic(`agents up (both BGP sessions Established) ${g.agentsUp.ms} ms: ${JSON.stringify(g.agentsUp.agents)}`);
  for (const s of ['scenario1', 'scenario2', 'natFallback'] as const) if (g[s]) t.diagnostic(`${s}: Service created → first answer ${g[s].provisionMs} ms`);
  assert.ok(g.ok, `${g.error ?? 'guest failed'}\n${await agentLogs()}`);

  await t.test('the agents, started with --dataplane=auto, detected IPVS on this kernel', () => {
    const agents = (g.agentsUp?.agents ?? {}) as Record<string, { dataplane?: string }>;
    assert.deepEqual(Object.fromEntries(Object.entries(agents).map(([n, a]) => [n, a.dataplane])), { node1: 'ipvs (requested auto)', node2: 'ipvs (requested auto)' });
  });

  await t.test('scenario 1 (Cluster, tunnel): both nodes advertise; flows spread over nodes and pods; DSR replies keep the client address', () => {
    const s = g.scenario1!;
    assert.ok(s.vip.startsWith('10.200.0.'), s.vip);
    assert.deepEqual(s.nexthops, ['10.0.0.11', '10.0.0.12']);
    assert.equal(s.seen['no answer'], undefined, JSON.stringify(s.seen));
    assert.equal(Object.values(s.seen).reduce((a, b) => a + b, 0), 20);
    assert.deepEqual([...new Set(Object.keys(s.seen).map((k) => k.split(' ')[1]))], [CLIENT], 'backends see the client\'s own address');
    const pods = new Set(Object.keys(s.seen).map((k) => k.split(' ')[0]!));
    assert.ok([...pods].some((p) => p.startsWith('node1')) && [...pods].some((p) => p.startsWith('node2')), `pods on both nodes answer: ${JSON.stringify(s.seen)}`);
    for (const n of ['node1', 'node2'] as const) {
      const st = s[n];
      assert.deepEqual(st.vips, [`${s.vip}/32`], `${n}: the VIP on bgpvs0`);
      assert.match(st.save, new RegExp(`^-A -t ${s.vip.replace(/\./g, '\\.')}:80 -s mh -b mh-port$`, 'm'));
      assert.ok(st.vs.service && st.vs.service.conns > 0, `${n} received flows (router ECMP): ${JSON.stringify(st.vs)}`);
      assert.equal(st.acceptLocal, '1', `${n}: accept_local on cbr0`);
      // every real server is reached by IPIP, also the pod on the other node
      assert.equal((st.save.match(new RegExp(`^-a -t ${s.vip.replace(/\./g, '\\.')}:80 -r \\S+ -i -w 1`, 'gm')) ?? []).length, 2, st.save);
    }
    // Direct return across nodes: a node tunnelled flows to the pod on the other node, and not
    // one reply packet of those came back through it (the pod answers through its own node).
    // (Replies of a node's own pods do pass it — it is their gateway — but as routed packets
    // from the VIP, never translated: forwarding is -i.)
    const remote = (['node1', 'node2'] as const).flatMap((n) => s[n].vs.reals.filter((rr) => !rr.addr.startsWith(n === 'node1' ? '10.244.1.' : '10.244.2.')));
    assert.ok(remote.some((rr) => rr.conns > 0), `some flow crossed to the other node's pod: ${JSON.stringify({ n1: s.node1.vs.reals, n2: s.node2.vs.reals })}`);
    assert.deepEqual(remote.map((rr) => rr.outPkts), [0, 0], `no reply from the other node's pod passed back: ${JSON.stringify(remote)}`);
    for (const [pod, addrs] of Object.entries(s.pods)) assert.ok(addrs.some((a) => a.startsWith('tunl0') && a.endsWith(`${s.vip}/32`)), `${pod} holds the VIP on tunl0: ${addrs.join('; ')}`);
  });

  await t.test('scenario 2 (Local, DR): only the node with local endpoints advertises and programs; the backend sees the client\'s own address', () => {
    const s = g.scenario2!;
    assert.deepEqual(s.nexthops, ['10.0.0.11']);
    assert.equal(s.seen['no answer'], undefined, JSON.stringify(s.seen));
    assert.equal(Object.values(s.seen).reduce((a, b) => a + b, 0), 10);
    assert.deepEqual([...new Set(Object.keys(s.seen).map((k) => k.split(' ')[1]))], [CLIENT]);
    assert.ok(Object.keys(s.seen).every((k) => k.startsWith('node1p2 ') || k.startsWith('node1p3 ')), JSON.stringify(s.seen));
    assert.equal(new Set(Object.keys(s.seen).map((k) => k.split(' ')[0])).size, 2, `both local pods answer: ${JSON.stringify(s.seen)}`);
    assert.ok(s.node1.vips.includes(`${s.vip}/32`));
    assert.match(s.node1.save, new RegExp(`^-a -t ${s.vip.replace(/\./g, '\\.')}:80 -r \\S+ -g -w 1`, 'm'));
    assert.ok(s.node1.vs.service && s.node1.vs.service.conns > 0, JSON.stringify(s.node1.vs));
    assert.ok(!s.node2.vips.includes(`${s.vip}/32`), 'node2 holds no VIP for it');
    assert.ok(!s.node2.save.includes(`${s.vip}:80`), `node2 has no virtual service for it:\n${s.node2.save}`);
    for (const [pod, addrs] of Object.entries(s.pods)) assert.ok(addrs.some((a) => a.startsWith('lo ') && a.endsWith(`${s.vip}/32`)), `${pod} holds the VIP on lo: ${addrs.join('; ')}`);
  });

  await t.test('NAT fallback (port 8080 → 80, which DSR cannot do): IPVS masquerades, Local keeps the client address', () => {
    const s = g.natFallback!;
    assert.equal(s.seen['no answer'], undefined, JSON.stringify(s.seen));
    assert.deepEqual([...new Set(Object.keys(s.seen).map((k) => k.split(' ')[1]))], [CLIENT]);
    assert.match(s.node1.save, new RegExp(`^-a -t ${s.vip.replace(/\./g, '\\.')}:8080 -r \\S+:80 -m -w 1`, 'm'));
    assert.ok(s.node1.vs.service && s.node1.vs.service.outPkts > 0, 'NAT replies pass back through IPVS');
  });
});
