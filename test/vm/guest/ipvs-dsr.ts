/**
 * Runs INSIDE the VM (compiled: test/rig/guest-build.ts): bgpvs's own IPVS adapter, node VIPs and pod DSR
 * against the real kernel. Topology on one bridge (ns "sw"): client 10.10.0.1, director
 * 10.10.0.2 (IPVS, VIPs on bgpvs0), backends b1 10.10.0.11 and b2 10.10.0.12 (HTTP on :80).
 * Writes the JSON result to argv[2].
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { run } from '../../../src/exec/run.js';
import { createLogger } from '../../../src/observability/logger.js';
import { NetLab } from '../../rig/netns.js';
import { IpvsDataPlane } from '../../../src/dataplane/ipvs/adapter.js';
import { NodeVips } from '../../../src/dataplane/vip/node-vips.js';
import { NamedNetnsResolver, PodDsr } from '../../../src/dataplane/vip/pod-dsr.js';
import type { ForwardingMethod, Scheduler, SchedulerFlag, VirtualServer } from '../../../src/model/types.js';

const out = process.argv[2] ?? '/tmp/ipvs-result.json';
const logger = createLogger({ level: 'warn' });
const TUN_VIP = '10.20.0.100';
const DR_VIP = '10.20.0.101';
const FOREIGN_VIP = '10.30.0.1';
const result: Record<string, unknown> = {};
const children: ChildProcess[] = [];

const vs = (vip: string, forwarding: ForwardingMethod, scheduler: Scheduler, flags: SchedulerFlag[], reals: string[]): VirtualServer => ({
  vip, port: 80, protocol: 'TCP', family: 'IPv4', scheduler, schedulerFlags: flags, persistenceSeconds: 0, forwarding,
  realServers: reals.map((address) => ({ address, port: 80, weight: 1 })), services: ['default/web'],
});

const lab = await NetLab.create('ipvs', { logger });
try {
  for (const n of ['sw', 'client', 'director', 'b1', 'b2']) await lab.addNs(n);
  const hosts: Array<[string, string]> = [['client', '10.10.0.1'], ['director', '10.10.0.2'], ['b1', '10.10.0.11'], ['b2', '10.10.0.12']];
  for (const [n, ip] of hosts) {
    await lab.link(n, 'eth0', 'sw', `p-${n}`);
    await lab.addr(n, 'eth0', `${ip}/24`);
  }
  await lab.bridge('sw', 'br0', hosts.map(([n]) => `p-${n}`));
  await lab.route('client', '10.20.0.0/24', ['via', '10.10.0.2']);

  // a virtual service bgpvs does not own, made by plain ipvsadm first
  await lab.exec('director', ['ipvsadm', '-A', '-t', `${FOREIGN_VIP}:80`, '-s', 'rr']);
  await lab.exec('director', ['ipvsadm', '-a', '-t', `${FOREIGN_VIP}:80`, '-r', '10.10.0.11:80', '-g', '-w', '1']);

  // backends: tiny HTTP servers naming themselves
  for (const b of ['b1', 'b2']) {
    const c = spawn('ip', ['netns', 'exec', lab.ns(b), 'node', '-e', `require('http').createServer((q,s)=>s.end('${b}')).listen(80,'0.0.0.0')`], { stdio: 'ignore' });
    children.push(c);
  }

  // node side: VIPs on bgpvs0 in the director, IPVS through the adapter
  let clock = 1_000_000;
  const graceMs = 30_000;
  const vips = new NodeVips({ run, logger, netns: lab.ns('director') });
  result.vips = await vips.sync([TUN_VIP, DR_VIP]);
  const dp = new IpvsDataPlane({ run, logger, netns: lab.ns('director'), managedVips: new Set([TUN_VIP, DR_VIP]), drainGraceMs: graceMs, now: () => clock });
  const desired = [vs(TUN_VIP, 'tunnel', 'mh', ['mh-fallback', 'mh-port'], ['10.10.0.11', '10.10.0.12']), vs(DR_VIP, 'dr', 'rr', [], ['10.10.0.11', '10.10.0.12'])];
  const s1 = await dp.sync(desired);
  result.sync1 = { ops: s1.ops.length, batch: s1.batch, sysctls: s1.sysctls };

  // pod side: DSR addresses in each backend namespace
  const pods = new PodDsr({ run, logger, resolver: new NamedNetnsResolver(new Map([['default/b1', lab.ns('b1')], ['default/b2', lab.ns('b2')]])) });
  const podRes = [];
  for (const b of ['b1', 'b2']) {
    podRes.push(await pods.sync(`default/${b}`, 'tunnel', [TUN_VIP]));
    podRes.push(await pods.sync(`default/${b}`, 'dr', [DR_VIP]));
  }
  result.pods = podRes;
  result.podsAgain = await pods.sync('default/b1', 'tunnel', [TUN_VIP]);

  // wait for the backends to listen
  for (let i = 0; i < 100; i++) {
    const r = await lab.exec('client', ['curl', '-s', '--max-time', '1', 'http://10.10.0.11/'], { allowFailure: true });
    const r2 = await lab.exec('client', ['curl', '-s', '--max-time', '1', 'http://10.10.0.12/'], { allowFailure: true });
    if (r.stdout === 'b1' && r2.stdout === 'b2') break;
    await new Promise((res) => setTimeout(res, 100));
  }

  const hits = async (vip: string, n: number) => {
    const count: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await lab.exec('client', ['curl', '-s', '--max-time', '2', `http://${vip}/`], { allowFailure: true });
      const k = r.exitCode === 0 ? r.stdout : `fail:${r.exitCode}`;
      count[k] = (count[k] ?? 0) + 1;
    }
    return count;
  };
  const stats = async (vip: string) => {
    const t = (await lab.exec('director', ['ipvsadm', '-Ln', '--stats', '--exact', '-t', `${vip}:80`])).stdout;
    const row = t.split('\n').find((l) => l.startsWith('TCP'))!.trim().split(/\s+/);
    return { conns: Number(row[2]), inPkts: Number(row[3]), outPkts: Number(row[4]), text: t };
  };
  result.tunnelHits = await hits(TUN_VIP, 20);
  result.drHits = await hits(DR_VIP, 20);
  result.tunnelStats = await stats(TUN_VIP);
  result.drStats = await stats(DR_VIP);

  // second sync: nothing to do
  const s2 = await dp.sync(desired);
  result.sync2 = { ops: s2.ops.length, batch: s2.batch };

  // endpoint removal: b2 leaves the tunnel service; it has (inactive) connections → weight 0
  const conns = await dp.connections();
  result.b2ConnsBefore = conns.get(`TCP/${TUN_VIP}/80>10.10.0.12/80`);
  const less = [vs(TUN_VIP, 'tunnel', 'mh', ['mh-fallback', 'mh-port'], ['10.10.0.11']), desired[1]!];
  const d1 = await dp.sync(less);
  result.drain1 = { batch: d1.batch, draining: d1.draining, table: (await lab.exec('director', ['ipvsadm', '-Sn'])).stdout };
  result.drainHits = await hits(TUN_VIP, 6);
  clock += 5_000;
  const d2 = await dp.sync(less);
  result.drain2 = { batch: d2.batch, draining: d2.draining };
  clock += graceMs;
  const d3 = await dp.sync(less);
  result.drain3 = { batch: d3.batch, draining: d3.draining };
  const d4 = await dp.sync(less);
  result.drain4 = { ops: d4.ops.length };

  // VIP removal: the DR service and its VIP go away
  const only = [less[0]!];
  const g = await dp.sync(only);
  result.removeService = { batch: g.batch };
  result.vipsAfter = await vips.sync([TUN_VIP]);
  result.vipList = await vips.list();
  result.finalTable = (await lab.exec('director', ['ipvsadm', '-Sn'])).stdout;

  // the unit tests' golden batches are accepted by the real ipvsadm -R (fresh namespace)
  await lab.addNs('gold');
  const golden = (f: string) => readFileSync(new URL(`../../unit/golden/${f}`, import.meta.url), 'utf8');
  await lab.exec('gold', ['ipvsadm', '-R'], { input: golden('ipvs-initial.txt') });
  result.goldenInitial = (await lab.exec('gold', ['ipvsadm', '-Sn'])).stdout;
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
} finally {
  for (const c of children) if (c.pid) process.kill(c.pid, 'SIGTERM');
  await lab.destroy();
}
writeFileSync(out, JSON.stringify(result, null, 1));
console.log(`ipvs guest wrote ${out}`);
