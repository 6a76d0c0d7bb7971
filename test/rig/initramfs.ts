/**
 * The test VM's initramfs: busybox, our /init (vm-init.ts) and the kernel modules the tests
 * need with their dependencies (from `depmod -n` on the unpacked Debian kernel package).
 *
 * Cached as `<cache>/vm/<kernel-version>/initramfs-<key>.cpio`, where the key hashes every
 * input (kernel version, module list, init script, busybox binary, format version); a
 * changed input gives a new file, an unchanged one is reused without running anything.
 * Uncompressed: under TCG, decompressing costs more boot time than the bytes do.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BgpvsError } from '../../src/errors.js';
import { run as defaultRun, type Runner } from '../../src/exec/run.js';
import { CpioArchive } from './cpio.js';
import { moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from './modules-dep.js';
import { cacheDir as defaultCacheDir, kernelDir as defaultKernelDir } from './paths.js';
import { VM_INIT_APPLETS, VM_INIT_SCRIPT } from './vm-init.js';

/** Bump when the layout of the image changes in a way the other inputs do not capture. */
const FORMAT = 2;

/**
 * Modules preloaded in the VM (module autoloading is not to be relied on there). Their
 * dependencies come along. Built-in ones are accepted and skipped.
 */
export const DEFAULT_VM_MODULES: readonly string[] = [
  // boot: host root and result shares over virtio 9p, the overlay root
  'virtio_pci', '9pnet_virtio', '9p', 'overlay',
  // IPVS and its schedulers
  'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh', 'ip_vs_mh', 'ip_vs_dh', 'ip_vs_sed', 'ip_vs_nq',
  // tunnels (IPVS tunnel mode, DSR into pods), lab links
  'ipip', 'tunnel4', 'ip_tunnel', 'ip6_tunnel', 'tunnel6', 'veth', 'dummy', 'bridge', 'macvlan',
  // conntrack and nftables with the expressions our tables use
  'nf_conntrack', 'nf_conntrack_netlink', 'nf_nat', 'nfnetlink', 'nf_tables', 'nft_chain_nat', 'nft_ct', 'nft_nat',
  'nft_masq', 'nft_redir', 'nft_numgen', 'nft_hash', 'nft_fwd_netdev', 'nft_dup_netdev', 'nft_fib_inet', 'nft_fib_ipv4',
  'nft_fib_ipv6', 'nft_reject_inet', 'nft_limit', 'nft_quota', 'nft_objref', 'nft_log', 'nft_compat',
];

export interface KernelImage {
  /** e.g. 6.1.0-56-amd64 */
  version: string;
  /** Root of the unpacked kernel package (has boot/ and lib/modules/). */
  root: string;
  vmlinuz: string;
}

/** The kernel in an unpacked Debian kernel package directory (`<dir>/root/...`). */
export function findKernel(dir: string = defaultKernelDir()): KernelImage {
  const root = join(dir, 'root');
  const modDir = join(root, 'lib', 'modules');
  const versions = existsSync(modDir) ? readdirSync(modDir) : [];
  if (versions.length !== 1) {
    throw new BgpvsError(`expected one kernel version in ${modDir}, found ${versions.length}: run scripts/setup.sh kernel`);
  }
  const version = versions[0]!;
  const vmlinuz = join(root, 'boot', `vmlinuz-${version}`);
  if (!existsSync(vmlinuz)) throw new BgpvsError(`kernel image missing: ${vmlinuz}: run scripts/setup.sh kernel`);
  return { version, root, vmlinuz };
}

export interface InitramfsOptions {
  kernel: KernelImage;
  modules?: readonly string[];
  /** Cache root (default $BGPVS_CACHE or ~/.cache/bgpvs). */
  cacheDir?: string;
  /** The static busybox binary (default /bin/busybox from busybox-static). */
  busybox?: string;
  run?: Runner;
}

export interface Initramfs {
  path: string;
  key: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
}

/** The cached initramfs for these inputs, building it first if missing. */
export async function ensureInitramfs(opts: InitramfsOptions): Promise<Initramfs> {
  const modules = [...(opts.modules ?? DEFAULT_VM_MODULES)];
  const busyboxPath = opts.busybox ?? '/bin/busybox';
  const busybox = await readFile(busyboxPath).catch((err: unknown) => {
    throw new BgpvsError(`busybox not found at ${busyboxPath}: install busybox-static`, { cause: err });
  });
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, version: opts.kernel.version, modules, init: VM_INIT_SCRIPT, applets: VM_INIT_APPLETS }))
    .update(busybox)
    .digest('hex')
    .slice(0, 16);
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'vm', opts.kernel.version);
  const path = join(dir, `initramfs-${key}.cpio`);
  if (existsSync(path)) return { path, key, built: false };

  const image = await buildInitramfs(opts.kernel, modules, busybox, opts.run ?? defaultRun);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, image);
  await rename(tmp, path);
  return { path, key, built: true };
}

async function buildInitramfs(kernel: KernelImage, modules: readonly string[], busybox: Buffer, run: Runner): Promise<Buffer> {
  const modRoot = join(kernel.root, 'lib', 'modules', kernel.version);
  // -n prints the index files instead of writing them: the unpacked package stays untouched.
  const depmod = await run(['depmod', '-b', kernel.root, '-n', kernel.version], { timeoutMs: 120_000 });
  const dep = parseModulesDep(depmod.stdout);
  const builtin = parseModulesBuiltin(await readFile(join(modRoot, 'modules.builtin'), 'utf8'));
  const { order } = resolveModules(dep, modules, builtin);
  const included = new Set(order);

  const a = new CpioArchive();
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'lower', 'upper', 'newroot', 'xfer', 'etc/bgpvs']) a.dir(d);
  a.charDevice('dev/console', 5, 1);
  a.charDevice('dev/null', 1, 3, 0o666);
  a.file('bin/busybox', busybox, 0o755);
  for (const applet of VM_INIT_APPLETS) a.symlink(applet === 'modprobe' ? 'sbin/modprobe' : `bin/${applet}`, '/bin/busybox');
  a.file('init', VM_INIT_SCRIPT, 0o755);
  a.file('etc/bgpvs/modules', `${order.join('\n')}\n`);
  const kmods = `lib/modules/${kernel.version}`;
  for (const rel of order) a.file(`${kmods}/${rel}`, await readFile(join(modRoot, rel)));
  // For autoloading by busybox modprobe: the index files, cut down to the included modules.
  a.file(`${kmods}/modules.dep`, order.map((p) => `${p}: ${(dep.deps.get(p) ?? []).join(' ')}`.trimEnd()).join('\n') + '\n');
  a.file(`${kmods}/modules.alias`, aliasesFor(depmod.stdout, new Set([...included].map(moduleName))));
  a.file(`${kmods}/modules.builtin`, await readFile(join(modRoot, 'modules.builtin')));
  return a.toBuffer();
}

/** `alias X module` lines of the `depmod -n` output for the given module names. */
function aliasesFor(depmodOut: string, names: ReadonlySet<string>): string {
  const out: string[] = [];
  for (const line of depmodOut.split('\n')) {
    const m = /^alias (\S+) (\S+)$/.exec(line);
    if (m && names.has(m[2]!)) out.push(line);
  }
  return out.join('\n') + '\n';
}
