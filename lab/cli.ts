/** The lab's commands: up | down | status | run (entry: lab/main.ts). */
import { join } from 'node:path';
import { createLogger } from '../src/observability/logger.js';
import { cleanLeftovers } from '../test/rig/netns.js';
import { describeLab, startLab, type RunningLab } from './run.js';
import { connect, createLbService, createPool, DEMO_POOL_CIDR, routerNexthops, startAgents, waitForIp, waitNexthops, waitReachable } from './agents.js';
import { LAB_DIR, labLogPath, readLabState, startSupervisor, stopSupervisor, writeLabState } from './supervisor.js';

function print(summary: unknown): void {
  console.log(JSON.stringify(summary, null, 2));
}

export async function labCommand(args: readonly string[]): Promise<number> {
  const [sub] = args;
  switch (sub) {
    case 'up': {
      const s = await startSupervisor(args.slice(1));
      if (s.phase === 'failed') {
        console.error(`lab failed to start: ${s.error}\n(log: ${labLogPath()})`);
        return 1;
      }
      console.log(`lab is up (supervisor pid ${s.pid}, log ${labLogPath()}); tear down with: npm run lab:down`);
      print(s.summary);
      return 0;
    }
    case 'down': {
      const stopped = await stopSupervisor();
      const removed = cleanLeftovers();
      console.log(stopped ? 'lab stopped' : 'no lab running', removed.length ? `(removed leftovers: ${removed.join(', ')})` : '');
      return 0;
    }
    case 'status': {
      const s = readLabState();
      if (!s) {
        console.log('no lab');
        return 1;
      }
      print(s);
      return 0;
    }
    case 'run': {
      // The supervisor: owns the lab until SIGTERM (NetLab's and KubeApi's exit handlers tear it down).
      const logger = createLogger({ name: 'bgpvs-lab' });
      writeLabState({ pid: process.pid, phase: 'starting' });
      try {
        const lab = await startLab({ dir: join(LAB_DIR, 'cluster'), logger });
        await createPool(lab, 'demo', DEMO_POOL_CIDR);
        await startAgents(lab, { dir: LAB_DIR });
        const demo = await runDemo(lab);
        writeLabState({ pid: process.pid, phase: 'ready', summary: { ...(await describeLab(lab)), demo } });
        logger.info('lab ready');
        process.once('SIGTERM', () => {
          logger.info('lab stopping');
        });
        await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
      } catch (err) {
        logger.error({ err }, 'lab failed');
        writeLabState({ pid: process.pid, phase: 'failed', error: (err as Error).message });
        return 1;
      }
      return 0;
    }
    default:
      console.error('usage: bgpvs lab <up|down|status>');
      return 2;
  }
}

/**
 * The demo: a LoadBalancer Service (externalTrafficPolicy Local) with pods on node1 (2) and
 * node2 (1); wait for its IP and the router's ECMP route, then 30 client connections.
 */
async function runDemo(l: RunningLab): Promise<Record<string, unknown>> {
  const svc = await createLbService(l, 'demo', 'web', 'Local', 80);
  const pods = [...(await l.cluster.addPods('node1', 2, 80)), ...(await l.cluster.addPods('node2', 1, 80))];
  await l.cluster.setEndpoints(svc, pods);
  const ip = await waitForIp(l, 'demo', 'web');
  await waitNexthops(l, ip, ['10.0.0.11', '10.0.0.12']);
  await waitReachable(l, ip, 80);
  const answers = await connect(l, ip, 80, 30);
  return {
    service: 'demo/web (LoadBalancer, externalTrafficPolicy Local, pods on node1 x2 and node2 x1)',
    allocatedIp: ip,
    routerEcmpNexthops: await routerNexthops(l, ip),
    clientConnections: '30 from client1 (192.168.100.10); each answer is "<pod> <client address the pod saw>"',
    answers,
  };
}
