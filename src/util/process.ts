import { readdirSync, readFileSync } from 'node:fs';

/**
 * Whether `pid` still runs. A process that exited but is not yet reaped (a zombie: init
 * here can take a while) counts as gone; one we may not signal (EPERM) counts as running.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** PIDs of the live children of `pid` (from /proc), optionally only those whose command name matches `comm`. */
export function childPids(pid: number, comm?: RegExp): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      if (Number(ppid) !== pid || state === 'Z') continue;
      if (comm && !comm.test(stat.slice(stat.indexOf('(') + 1, close))) continue;
      out.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
