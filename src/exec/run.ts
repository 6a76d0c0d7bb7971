/**
 * The one module that spawns processes. Always argv arrays, never a shell string.
 * Adapters receive a `Runner` through their constructor so tests can hand them another.
 */
import { execa, type ResultPromise } from 'execa';
import { CommandError } from '../errors.js';

export interface RunOptions {
  /** Text written to the process's stdin. */
  input?: string;
  /** Run inside this network namespace (`ip netns exec NAME ...`). */
  netns?: string;
  /** Do not throw on a non-zero exit; the caller inspects `exitCode`. */
  allowFailure?: boolean;
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export type Runner = (argv: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/** Prefix argv so it runs in a network namespace. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? ['ip', 'netns', 'exec', netns, ...argv] : [...argv];
}

export const run: Runner = async (argv, opts = {}) => {
  const full = inNetns(opts.netns, argv);
  const [file, ...args] = full;
  if (!file) throw new CommandError(full, undefined, 'empty argv');
  const res = await execa(file, args, {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs,
    env: opts.env,
    cwd: opts.cwd,
    stripFinalNewline: false,
  });
  const exitCode = typeof res.exitCode === 'number' ? res.exitCode : -1;
  const stdout = String(res.stdout ?? '');
  const stderr = String(res.stderr ?? '');
  if (exitCode !== 0 && !opts.allowFailure) {
    const why = res.timedOut ? `timed out after ${opts.timeoutMs} ms\n${stderr}` : res.failed && exitCode === -1 ? `${res.shortMessage}\n${stderr}` : stderr;
    throw new CommandError(full, exitCode === -1 ? undefined : exitCode, why, { cause: res.cause });
  }
  return { stdout, stderr, exitCode };
};

export interface SpawnOptions {
  netns?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** File that receives stdout and stderr. */
  logFile?: string;
  /**
   * Open file descriptor that receives stdout and stderr directly (takes precedence over
   * `logFile`): the child writes to it itself, so its output does not pass through this
   * process and no pipe keeps this process's event loop alive. The caller closes it.
   */
  logFd?: number;
}

/** Start a long-running process (daemons); the caller owns its lifetime and PID. */
export function spawnDaemon(argv: readonly string[], opts: SpawnOptions = {}): ResultPromise {
  const full = inNetns(opts.netns, argv);
  const [file, ...args] = full;
  if (!file) throw new CommandError(full, undefined, 'empty argv');
  const out = opts.logFd !== undefined ? opts.logFd : opts.logFile ? { file: opts.logFile, append: true } : 'ignore';
  return execa(file, args, {
    reject: false,
    env: opts.env,
    cwd: opts.cwd,
    stdin: 'ignore',
    stdout: out as never,
    stderr: out as never,
    cleanup: true,
  });
}
