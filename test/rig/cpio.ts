/**
 * A writer for the `newc` cpio format the kernel unpacks as an initramfs. Pure: entries in,
 * one Buffer out; no file system access, so device nodes need no privileges. Timestamps and
 * owners are fixed (0), so the same entries always give the same bytes.
 */
import { BgpvsError } from '../../src/errors.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

interface Entry {
  path: string;
  mode: number;
  data: Buffer;
  rdevMajor: number;
  rdevMinor: number;
}

function normalize(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!p || p.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new BgpvsError(`cpio: bad path ${JSON.stringify(path)}`);
  }
  return p;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Collects entries (parents are added automatically, each path once) and serializes them. */
export class CpioArchive {
  private readonly entries = new Map<string, Entry>();

  /** A directory (and its parents). */
  dir(path: string, perm = 0o755): this {
    const p = normalize(path);
    const existing = this.entries.get(p);
    if (existing) {
      if ((existing.mode & 0o170000) !== S_IFDIR) throw new BgpvsError(`cpio: ${p} exists and is not a directory`);
      return this;
    }
    this.parents(p);
    this.entries.set(p, { path: p, mode: S_IFDIR | perm, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 });
    return this;
  }

  /** A regular file with the given content. */
  file(path: string, data: Buffer | string, perm = 0o644): this {
    return this.add(path, S_IFREG | perm, typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** A symbolic link pointing at `target`. */
  symlink(path: string, target: string): this {
    return this.add(path, S_IFLNK | 0o777, Buffer.from(target));
  }

  /** A character device node (e.g. /dev/console = 5,1). */
  charDevice(path: string, major: number, minor: number, perm = 0o600): this {
    return this.add(path, S_IFCHR | perm, Buffer.alloc(0), major, minor);
  }

  has(path: string): boolean {
    return this.entries.has(normalize(path));
  }

  /** The archive, terminated by the `TRAILER!!!` entry. */
  toBuffer(): Buffer {
    const chunks: Buffer[] = [];
    let ino = 1;
    const push = (e: Entry, inode: number, nlink: number): void => {
      const name = Buffer.from(`${e.path}\0`);
      const header =
        '070701' +
        [inode, e.mode, 0, 0, nlink, 0, e.data.length, 0, 0, e.rdevMajor, e.rdevMinor, name.length, 0].map(hex8).join('');
      chunks.push(Buffer.from(header, 'ascii'), name, Buffer.alloc(pad4(header.length + name.length)));
      chunks.push(e.data, Buffer.alloc(pad4(e.data.length)));
    };
    for (const e of this.entries.values()) push(e, ino++, (e.mode & 0o170000) === S_IFDIR ? 2 : 1);
    push({ path: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 }, 0, 1);
    return Buffer.concat(chunks);
  }

  private add(path: string, mode: number, data: Buffer, rdevMajor = 0, rdevMinor = 0): this {
    const p = normalize(path);
    if (this.entries.has(p)) throw new BgpvsError(`cpio: duplicate entry ${p}`);
    this.parents(p);
    this.entries.set(p, { path: p, mode, data, rdevMajor, rdevMinor });
    return this;
  }

  private parents(p: string): void {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!this.entries.has(parent)) this.dir(parent);
    }
  }
}
