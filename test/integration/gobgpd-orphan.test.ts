/**
 * gobgpd must not outlive an agent that is SIGKILLed: a restarted agent would otherwise find
 * an orphan holding its gRPC port and the node's BGP sessions. A real gobgpd started with the
 * supervisor's argv by a real node process; the node process is SIGKILLed.
 */
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { toolPath } from '../rig/paths.js';
import { processAlive } from '../../src/util/process.js';
import { waitFor } from '../../src/util/wait.js';

function skipReason(): string | undefined {
  try {
    toolPath('gobgpd');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

test('gobgpd dies with its agent when the agent is SIGKILLed (no orphan)', { skip: skipReason(), timeout: 60_000 }, async (t) => {
  const script = fileURLToPath(new URL('./fixtures/spawn-gobgpd.ts', import.meta.url));
  const agent = spawn(process.execPath, ['--import', 'tsx', script, toolPath('gobgpd'), '50981'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started: { gobgpd?: number } = {};
  t.after(() => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    if (started.gobgpd !== undefined && processAlive(started.gobgpd)) process.kill(started.gobgpd, 'SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: agent.stdout! }).once('line', resolve);
    agent.once('exit', (code) => reject(new Error(`child exited ${code} before printing gobgpd's PID`)));
  });
  const gobgpd = Number(line.trim());
  started.gobgpd = gobgpd;
  await waitFor('gobgpd running', () => (processAlive(gobgpd) && /gobgpd/.test(commOf(gobgpd)) ? true : undefined), { timeoutMs: 10_000 });
  agent.kill('SIGKILL');
  await waitFor(`gobgpd ${gobgpd} gone after its parent's SIGKILL`, () => (processAlive(gobgpd) ? undefined : true), { timeoutMs: 10_000 });
});

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
