/**
 * KernelVm: run a command on Debian's stock kernel (which has IPVS and IPIP as modules, unlike
 * the CI machine's) inside a throwaway qemu VM.
 *
 * Each `run()` is one boot: qemu (TCG; KVM does not boot this kernel here) starts the
 * unpacked kernel with our cached initramfs (initramfs.ts, init in vm-init.ts). The guest sees
 * the host's root read-only over 9p under a tmpfs overlay, so host binaries (ipvsadm, nft,
 * ip, node) and this repository are at their usual paths, and every path (also /tmp) is
 * writable; writes stay in the guest. `shareDir` is a host directory mounted read-write at
 * its own path. Results come back through a private 9p share (stdout, stderr, exit status),
 * the serial console goes to a log whose tail every VmError carries. Repository TypeScript
 * runs inside compiled, by plain node: `vm.run(`${await guestNode('test/vm/guest/x.ts')} arg`)`
 * (guest-build.ts; the working directory defaults to this checkout, wherever it is).
 *
 * Each run's directory is `<tmp>/bgpvs-vm-<ownerPid>-*`; directories of dead owners are
 * removed by the next run. qemu runs under coreutils `timeout`, so it ends at `timeoutMs` even
 * when this process was killed; it also dies with this process (execa cleanup), and the guest
 * powers itself off 5 s before the deadline.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { BgpvsError, CommandError } from '../../src/errors.js';
import { run as defaultRun, spawnDaemon, type Runner } from '../../src/exec/run.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { ensureInitramfs, findKernel, type Initramfs, type KernelImage } from './initramfs.js';
import { cacheDir as defaultCacheDir, repoRoot } from './paths.js';
import { ensureVmlinux } from './vmlinux.js';
import { processAlive } from '../../src/util/process.js';

export const vmRunDirPrefix = 'bgpvs-vm-';

const CONSOLE_TAIL_LINES = 40;

export type VmStage = 'boot' | 'command';

/** The VM did not deliver the command's exit status; carries the tail of the serial console. */
export class VmError extends BgpvsError {
  /** `boot`: the command never started; `command`: the VM died or timed out while it ran. */
  readonly stage: VmStage;
  readonly timedOut: boolean;
  readonly consoleTail: string;
  constructor(stage: VmStage, what: string, timedOut: boolean, consoleTail: string, options?: { cause?: unknown }) {
    super(`VM ${stage === 'boot' ? 'failed to boot' : 'failed while running the command'}: ${what}\n--- serial console (tail) ---\n${consoleTail}`, options);
    this.stage = stage;
    this.timedOut = timedOut;
    this.consoleTail = consoleTail;
  }
}

/** The VM never got to run the command (qemu, kernel, module, mount or timeout during boot). */
export class VmBootError extends VmError {
  constructor(what: string, timedOut: boolean, consoleTail: string, options?: { cause?: unknown }) {
    super('boot', what, timedOut, consoleTail, options);
  }
}

/** The command ran inside the VM and exited non-zero (the VM itself worked). */
export class VmCommandError extends CommandError {
  readonly stdout: string;
  constructor(argv: readonly string[], exitCode: number, stdout: string, stderr: string) {
    super(argv, exitCode, stderr);
    this.stdout = stdout;
  }
}

export interface KernelVmOptions {
  /** Unpacked Debian kernel package (default: scripts/setup.sh's, see paths.kernelDir()). */
  kernelDir?: string;
  /** Cache root for the initramfs (default $BGPVS_CACHE or ~/.cache/bgpvs). */
  cacheDir?: string;
  /** Modules to preload (default DEFAULT_VM_MODULES); dependencies come along. */
  modules?: readonly string[];
  /** Guest memory (default 1536 MiB). */
  memoryMiB?: number;
  /** Guest CPUs (default 1: on 2 busy host cores a second TCG vCPU does not boot faster). */
  cpus?: number;
  /** qemu CPU model (default max). */
  cpuModel?: string;
  /** qemu binary (default qemu-system-x86_64). */
  qemu?: string;
  /** Runs depmod for the initramfs build. */
  run?: Runner;
  logger?: Logger;
  /**
   * Boot the kernel's uncompressed ELF through PVH (default true; extracted once and cached):
   * saves the guest's own decompression, ~3 s per boot under TCG. False: boot the bzImage.
   */
  pvh?: boolean;
  /** Keep each run's directory (console.log, stdout, ...) for debugging; also env BGPVS_KEEP_RIG=1. */
  keepDir?: boolean;
}

export interface VmRunOptions {
  /** Whole run: boot, command, power-off (default 300 s). */
  timeoutMs?: number;
  /** Host directory mounted read-write at the same path inside the guest. */
  shareDir?: string;
  /** Working directory of the command inside the guest (default: this repository). */
  cwd?: string;
  /** Extra environment (the guest starts from a clean one with PATH, HOME, BGPVS_VM=1). */
  env?: Record<string, string>;
  /** Return a non-zero exit instead of throwing VmCommandError. */
  allowFailure?: boolean;
}

export interface VmImages {
  initramfs: Initramfs;
  /** What qemu boots: the cached vmlinux (PVH) or the package's bzImage. */
  kernel: string;
  pvh: boolean;
}

export interface VmTimings {
  /** Host wall time of the whole run, qemu start to exit. */
  wallMs: number;
  /** Guest uptime when the command started (kernel boot + modules + mounts). */
  bootMs: number;
  /** Guest time the command took. */
  commandMs: number;
}

export interface VmRunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timings: VmTimings;
}

/** POSIX shell single-quoting. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The script the guest's bash runs: environment, working directory, then the command. */
export function renderCommandScript(command: string | readonly string[], cwd: string, env: Record<string, string> = {}): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new BgpvsError(`VM env: bad variable name ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`cd ${shellQuote(cwd)} || exit 125`);
  if (typeof command === 'string') lines.push(command);
  else {
    if (command.length === 0) throw new BgpvsError('VM command: empty argv');
    lines.push(`exec ${command.map(shellQuote).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** qemu's option syntax doubles commas inside a value. */
function qemuValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/** Remove run directories whose owner process is gone. Returns their paths. */
export function cleanLeftoverRunDirs(parent: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = new RegExp(`^${vmRunDirPrefix}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
    removed.push(join(parent, name));
  }
  return removed;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function tail(text: string, lines: number): string {
  return text.replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}

export class KernelVm {
  readonly kernel: KernelImage;
  private readonly opts: KernelVmOptions;
  private readonly logger: Logger;
  private prepared: Promise<VmImages> | undefined;

  constructor(opts: KernelVmOptions = {}) {
    this.opts = opts;
    this.kernel = findKernel(opts.kernelDir);
    this.logger = opts.logger ?? silentLogger();
  }

  /** Why a VM cannot run here (undefined: it can): root for 9p passthrough of `/`, qemu, busybox. */
  static unavailableReason(qemu = 'qemu-system-x86_64'): string | undefined {
    if (process.getuid?.() !== 0) return 'needs root (qemu shares the whole host root into the VM)';
    const path = (process.env.PATH ?? '/usr/bin:/bin').split(':');
    if (!path.some((d) => existsSync(join(d, qemu)))) return `${qemu} not found: install qemu-system-x86 (scripts/setup.sh apt)`;
    if (!existsSync('/bin/busybox')) return 'busybox not found: install busybox-static (scripts/setup.sh apt)';
    return undefined;
  }

  /** Build (or find in the cache) the initramfs and the PVH kernel; `run` calls it too. */
  prepare(): Promise<VmImages> {
    this.prepared ??= (async (): Promise<VmImages> => {
      const run = this.opts.run ?? defaultRun;
      const cacheDir = this.opts.cacheDir ?? defaultCacheDir();
      const initramfs = await ensureInitramfs({ kernel: this.kernel, modules: this.opts.modules, cacheDir, run });
      const vmlinux = this.opts.pvh === false ? undefined : await ensureVmlinux(this.kernel, cacheDir, run);
      return { initramfs, kernel: vmlinux ?? this.kernel.vmlinuz, pvh: vmlinux !== undefined };
    })().catch((err: unknown) => {
      this.prepared = undefined;
      throw err;
    });
    return this.prepared;
  }

  /**
   * Boot, run `command` (a bash script, or an argv run with exec) inside, power off. Throws
   * VmBootError / VmError when the VM fails, VmCommandError when the command exits non-zero
   * (unless `allowFailure`).
   */
  async run(command: string | readonly string[], opts: VmRunOptions = {}): Promise<VmRunResult> {
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const cwd = opts.cwd ?? repoRoot;
    if (opts.shareDir !== undefined && (!isAbsolute(opts.shareDir) || !existsSync(opts.shareDir))) {
      throw new BgpvsError(`VM shareDir must be an existing absolute path: ${opts.shareDir}`);
    }
    const images = await this.prepare();
    cleanLeftoverRunDirs();
    const dir = await mkdtemp(join(tmpdir(), `${vmRunDirPrefix}${process.pid}-`));
    const xfer = join(dir, 'xfer');
    const consoleLog = join(dir, 'console.log');
    const qemuLog = join(dir, 'qemu.log');
    try {
      await mkdir(xfer);
      // The guest powers itself off a little before the host gives up on it.
      const guestTimeoutS = Math.max(5, Math.floor(timeoutMs / 1000) - 5);
      await writeFile(join(xfer, 'job.env'), `GUEST_TIMEOUT=${guestTimeoutS}\nSHARE_DIR=${shellQuote(opts.shareDir ?? '')}\n`);
      await writeFile(join(xfer, 'cmd.sh'), renderCommandScript(command, cwd, opts.env));
      const argv = this.qemuArgv(images, xfer, consoleLog, opts.shareDir);
      this.logger.debug({ argv, dir }, 'starting VM');

      const started = Date.now();
      // coreutils timeout owns the deadline, so qemu dies on time even if this process is
      // killed first; the timer here is only a backstop, aimed at that one PID.
      const proc = spawnDaemon(['timeout', '--kill-after=5', `${timeoutMs / 1000}s`, ...argv], { logFile: qemuLog });
      let killed = false;
      const backstop = setTimeout(() => {
        killed = true;
        proc.kill('SIGKILL');
      }, timeoutMs + 10_000);
      const res = await proc;
      clearTimeout(backstop);
      const timedOut = killed || res.exitCode === 124 || res.exitCode === 137;
      const wallMs = Date.now() - started;

      const consoleText = (await readIfExists(consoleLog)) ?? '';
      const qemuText = (await readIfExists(qemuLog)) ?? '';
      const consoleTail = tail([consoleText, qemuText && `--- qemu ---\n${qemuText}`].filter(Boolean).join('\n'), CONSOLE_TAIL_LINES);
      const startedAt = await readIfExists(join(xfer, 'started'));
      const exit = await readIfExists(join(xfer, 'exit'));
      const guestTimeout = await readIfExists(join(xfer, 'guest-timeout'));
      if (startedAt === undefined) {
        const why = (await readIfExists(join(xfer, 'boot-failed')))?.trim() ?? /BOOT FAILED: (.*)/.exec(consoleText)?.[1]?.trim();
        const what = timedOut
          ? `no command start within ${timeoutMs} ms`
          : guestTimeout !== undefined
            ? `guest timeout (${guestTimeoutS} s) before the command started`
            : (why ?? `qemu exited (code ${res.exitCode ?? 'none'}${res.signal ? `, ${res.signal}` : ''}) before the command started`);
        throw new VmBootError(what, timedOut || guestTimeout !== undefined, consoleTail);
      }
      const bootMs = Math.round(Number(startedAt.trim()) * 1000);
      if (exit === undefined) {
        const what = timedOut
          ? `timed out after ${timeoutMs} ms`
          : guestTimeout !== undefined
            ? `guest timeout (${guestTimeoutS} s)`
            : `VM stopped (qemu code ${res.exitCode ?? 'none'}) without an exit status`;
        throw new VmError('command', what, timedOut || guestTimeout !== undefined, consoleTail);
      }
      const [code, endUptime] = exit.trim().split(/\s+/);
      const exitCode = Number(code);
      const stdout = (await readIfExists(join(xfer, 'stdout'))) ?? '';
      const stderr = (await readIfExists(join(xfer, 'stderr'))) ?? '';
      const timings: VmTimings = { wallMs, bootMs, commandMs: Math.round(Number(endUptime) * 1000) - bootMs };
      this.logger.debug({ exitCode, ...timings }, 'VM run finished');
      if (exitCode !== 0 && !opts.allowFailure) {
        const shown = typeof command === 'string' ? ['bash', '-c', command.length > 200 ? `${command.slice(0, 200)}…` : command] : command;
        throw new VmCommandError(['vm:', ...shown], exitCode, stdout, stderr);
      }
      return { stdout, stderr, exitCode, timings };
    } finally {
      if (!(this.opts.keepDir || process.env.BGPVS_KEEP_RIG === '1')) await rm(dir, { recursive: true, force: true });
      else this.logger.info({ dir }, 'VM run directory kept');
    }
  }

  private qemuArgv(images: VmImages, xfer: string, consoleLog: string, shareDir: string | undefined): string[] {
    const append = [
      'console=ttyS0',
      'quiet',
      'loglevel=3',
      'panic=-1',
      'oops=panic',
      // faster under TCG: no speculation mitigations to emulate, no i8042/PS2 probing, no TSC calibration
      'mitigations=off',
      'i8042.noaux',
      'i8042.nokbd',
      'i8042.nopnp',
      'tsc=reliable',
      'no_timer_check',
      'random.trust_cpu=on',
    ].join(' ');
    const virtfs = (path: string, tag: string, ro: boolean) =>
      `local,path=${qemuValue(path)},mount_tag=${tag},security_model=none,multidevs=remap${ro ? ',readonly=on' : ''}`;
    const argv = [
      this.opts.qemu ?? 'qemu-system-x86_64',
      '-nodefaults',
      '-no-user-config',
      '-machine', 'q35,accel=tcg',
      // -cpu max (AVX, AVX2, FMA, F16C, PKU emulated): not the cause of the guest node crashes
      // of issue 18. Those came from tsx inside the guest (its off-thread module loader, wasm
      // lexer and esbuild service) under 2-vCPU TCG: cold `node --import tsx` starts of the lab's
      // imports crashed in 1 of 12 (a segfault) with -cpu max and in 1 of 15 (an error in the
      // loader worker) with max,-avx,-avx2,-fma,-f16c,-pku,-vaes, so the emulated vector and
      // protection-key features are not it; plain node under max did not crash in 20 starts, nor
      // in stresses of ymm state across preemption and signals (4 × 30 s), glibc's AVX2 string
      // functions (2 × 60 s), 60 esbuild-service starts and ~200 wasm compile rounds. The guest
      // now runs compiled JavaScript (guest-build.ts), and scripts/vm-boots.sh counts boots:
      // see the README (Tests) for the last count.
      '-cpu', this.opts.cpuModel ?? 'max',
      '-smp', String(this.opts.cpus ?? 1),
      '-m', String(this.opts.memoryMiB ?? 1536),
      '-display', 'none',
      '-monitor', 'none',
      '-no-reboot',
      '-serial', `file:${consoleLog}`,
      '-kernel', images.kernel,
      '-initrd', images.initramfs.path,
      '-append', append,
      '-virtfs', virtfs('/', 'hostroot', true),
      '-virtfs', virtfs(xfer, 'xfer', false),
    ];
    if (shareDir !== undefined) argv.push('-virtfs', virtfs(shareDir, 'share', false));
    return argv;
  }
}
