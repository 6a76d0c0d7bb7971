/** `bgpvs lab up | down | status | run`. */
import { join } from 'node:path';
import { createLogger } from '../observability/logger.js';
import { cleanLeftovers } from '../rig/netns.js';
import { describeLab, startLab } from './run.js';
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
        writeLabState({ pid: process.pid, phase: 'ready', summary: await describeLab(lab) });
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
