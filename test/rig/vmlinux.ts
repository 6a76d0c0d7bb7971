/**
 * The uncompressed kernel (vmlinux) inside a bzImage, for booting through PVH: qemu then
 * jumps straight into the ELF and the guest skips decompressing itself, which under TCG
 * takes about 3 s of every boot (Debian's kernel is xz-compressed).
 *
 * Cached as `<cache>/vm/<kernel-version>/vmlinux-<hash of the bzImage>`. A kernel whose
 * payload cannot be unpacked or has no PVH entry note gives `undefined`: boot the bzImage.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { run as defaultRun, type Runner } from '../../src/exec/run.js';
import type { KernelImage } from './initramfs.js';

const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

type Codec = 'xz' | 'zstd' | 'gzip';
const MAGICS: readonly { codec: Codec; magic: Buffer }[] = [
  { codec: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { codec: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { codec: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]) },
];

/** Whether `elf` is a 64-bit ELF with a Xen PVH entry point note (what qemu needs to boot it). */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== PT_NOTE) continue;
    let off = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(elf.length, off + Number(elf.readBigUInt64LE(ph + 32)));
    while (off + 12 <= end) {
      const namesz = elf.readUInt32LE(off);
      const descsz = elf.readUInt32LE(off + 4);
      const type = elf.readUInt32LE(off + 8);
      const name = elf.subarray(off + 12, off + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

async function decompress(codec: Codec, payload: Buffer, work: string, run: Runner): Promise<Buffer | undefined> {
  if (codec === 'gzip') {
    try {
      return gunzipSync(payload);
    } catch {
      return undefined;
    }
  }
  // The payload is followed by other data; --single-stream makes the tools stop at its end.
  const src = join(work, `payload.${codec === 'xz' ? 'xz' : 'zst'}`);
  const out = join(work, 'payload');
  await writeFile(src, payload);
  const argv = codec === 'xz' ? ['xz', '-d', '-q', '--single-stream', '-f', src] : ['zstd', '-d', '-q', '-f', src, '-o', out];
  await run(argv, { allowFailure: true, timeoutMs: 120_000 });
  return existsSync(out) ? readFile(out) : undefined;
}

/** The cached vmlinux of `kernel` with a PVH entry, extracting it first; undefined if none. */
export async function ensureVmlinux(kernel: KernelImage, cacheDir: string, run: Runner = defaultRun): Promise<string | undefined> {
  const bz = await readFile(kernel.vmlinuz);
  const hash = createHash('sha256').update(bz).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'vm', kernel.version);
  const path = join(dir, `vmlinux-${hash}`);
  const none = `${path}.none`;
  if (existsSync(path)) return path;
  if (existsSync(none)) return undefined;
  await mkdir(dir, { recursive: true });
  const work = join(dir, `vmlinux-${hash}.${process.pid}.tmp`);
  await mkdir(work, { recursive: true });
  try {
    for (const { codec, magic } of MAGICS) {
      for (let at = bz.indexOf(magic); at >= 0; at = bz.indexOf(magic, at + 1)) {
        const elf = await decompress(codec, bz.subarray(at), work, run);
        if (elf && hasPvhEntry(elf)) {
          await writeFile(join(work, 'vmlinux'), elf);
          await rename(join(work, 'vmlinux'), path);
          return path;
        }
        if (elf) break; // a real payload, but not bootable through PVH
      }
    }
    await writeFile(none, '');
    return undefined;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
