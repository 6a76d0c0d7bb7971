/**
 * `bgpvs lab up` starts a detached supervisor process (`bgpvs lab run`) that owns the whole
 * lab — namespaces, API server, routers, agents — and keeps it running; `lab down` stops it
 * by the PID in the state file, and the supervisor's own teardown removes everything.
 * Because one live process owns it all, a killed supervisor leaves only leftovers that the
 * next lab or test run removes (their owner PID is dead).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BgpvsError } from '../src/errors.js';
import { repoRoot } from '../test/rig/paths.js';
import { sleep } from '../src/util/wait.js';
import { processAlive } from '../src/util/process.js';

export const LAB_DIR = process.env.BGPVS_LAB_DIR ?? '/run/bgpvs-lab';
const stateFile = () => join(LAB_DIR, 'state.json');

export interface LabState {
  pid: number;
  phase: 'starting' | 'ready' | 'failed' | 'stopped';
  error?: string;
  /** What runs, for `lab status` and the demo. */
  summary?: Record<string, unknown>;
}

export function readLabState(): LabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeLabState(s: LabState): void {
  mkdirSync(LAB_DIR, { recursive: true });
  // Write then rename, so a reader never sees half a file.
  writeFileSync(`${stateFile()}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${stateFile()}.tmp`, stateFile());
}

/** Start the supervisor detached and wait until it reports ready (or failed). */
export async function startSupervisor(args: readonly string[], timeoutMs = 180_000): Promise<LabState> {
  const cur = readLabState();
  if (cur && processAlive(cur.pid)) throw new BgpvsError(`a lab is already running (pid ${cur.pid}); run: npm run lab:down`);
  mkdirSync(LAB_DIR, { recursive: true });
  rmSync(stateFile(), { force: true });
  const log = openSync(join(LAB_DIR, 'supervisor.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'lab', 'main.ts'), 'run', ...args], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = readLabState();
    if (s && s.pid === child.pid && s.phase !== 'starting') return s;
    if (child.pid === undefined || !processAlive(child.pid)) {
      throw new BgpvsError(`lab supervisor exited during start-up; see ${join(LAB_DIR, 'supervisor.log')}`);
    }
    if (Date.now() > deadline) throw new BgpvsError(`lab not ready after ${timeoutMs} ms; see ${join(LAB_DIR, 'supervisor.log')}`);
    await sleep(250);
  }
}

/** Stop the supervisor (SIGTERM, then SIGKILL) and wait until it is gone. */
export async function stopSupervisor(timeoutMs = 30_000): Promise<boolean> {
  const s = readLabState();
  if (!s || !processAlive(s.pid)) return false;
  process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (processAlive(s.pid) && Date.now() < deadline) await sleep(100);
  if (processAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
  writeLabState({ ...s, phase: 'stopped' });
  return true;
}

export function labLogPath(): string {
  return join(LAB_DIR, 'supervisor.log');
}

export function labDirExists(): boolean {
  return existsSync(LAB_DIR);
}
