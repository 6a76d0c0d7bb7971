import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CpioArchive } from '../rig/cpio.js';
import { lookupModule, moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from '../rig/modules-dep.js';
import { renderCommandScript, shellQuote } from '../rig/kernel-vm.js';

interface CpioEntry {
  name: string;
  mode: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  data: string;
}

/** A minimal newc reader, independent of the writer, for checking its output. */
function readNewc(buf: Buffer): CpioEntry[] {
  const out: CpioEntry[] = [];
  let off = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    const hdr = buf.subarray(off, off + 110).toString('ascii');
    assert.equal(hdr.slice(0, 6), '070701', `magic at ${off}`);
    const field = (i: number) => parseInt(hdr.slice(6 + i * 8, 14 + i * 8), 16);
    const nameSize = field(11);
    const size = field(6);
    const name = buf.subarray(off + 110, off + 110 + nameSize - 1).toString();
    const dataOff = align(off + 110 + nameSize);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode: field(1), size, rdevMajor: field(9), rdevMinor: field(10), data: buf.subarray(dataOff, dataOff + size).toString() });
    off = align(dataOff + size);
  }
}

test('cpio: newc entries with parents first, symlinks, device nodes, 4-byte alignment', () => {
  const a = new CpioArchive().file('bin/busybox', 'ELF!', 0o755).symlink('bin/sh', 'busybox').charDevice('dev/console', 5, 1).file('init', 'abc');
  const entries = readNewc(a.toBuffer());
  assert.deepEqual(
    entries.map((e) => [e.name, e.mode.toString(8), e.data]),
    [
      ['bin', '40755', ''],
      ['bin/busybox', '100755', 'ELF!'],
      ['bin/sh', '120777', 'busybox'],
      ['dev', '40755', ''],
      ['dev/console', '20600', ''],
      ['init', '100644', 'abc'],
    ],
  );
  const con = entries.find((e) => e.name === 'dev/console')!;
  assert.deepEqual([con.rdevMajor, con.rdevMinor], [5, 1]);
  assert.equal(a.toBuffer().length % 4, 0);
  assert.throws(() => new CpioArchive().file('a', '').file('a', ''), /duplicate/);
  assert.throws(() => new CpioArchive().file('../x', ''), /bad path/);
});

test('cpio: the system cpio reads what we write', { skip: spawnSync('busybox', ['true']).status !== 0 && 'no busybox' }, () => {
  const a = new CpioArchive().file('etc/x', 'hello\n').symlink('etc/y', 'x');
  const list = spawnSync('busybox', ['cpio', '-t'], { input: a.toBuffer(), encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(list.stdout.trim().split('\n'), ['etc', 'etc/x', 'etc/y']);
});

const depmodOut = [
  'kernel/net/ipv4/ipip.ko: kernel/net/ipv4/tunnel4.ko kernel/net/ipv4/ip_tunnel.ko',
  'kernel/net/ipv4/tunnel4.ko:',
  'kernel/net/ipv4/ip_tunnel.ko:',
  'kernel/net/netfilter/ipvs/ip_vs_mh.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/lib/libcrc32c.ko',
  'kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/lib/libcrc32c.ko',
  'kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko',
  'kernel/lib/libcrc32c.ko:',
  'kernel/crypto/crc32c_generic.ko:',
  'kernel/arch/x86/crypto/crc32c-intel.ko:',
  'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko',
  'kernel/net/9p/9pnet.ko:',
  '# Aliases extracted from modules themselves.',
  'alias crc32c crc32c_intel',
  'alias crc32c crc32c_generic',
  'alias pci:v00001AF4d* virtio_pci',
  '# Soft dependencies extracted from modules themselves.',
  'softdep libcrc32c pre: crc32c',
  'softdep ext4 pre: crypto-crc32c post: foo',
].join('\n');

test('modules.dep: dependencies first, each once, soft pre-dependencies through aliases', () => {
  const dep = parseModulesDep(depmodOut);
  assert.equal(moduleName('kernel/arch/x86/crypto/crc32c-intel.ko'), 'crc32c_intel');
  assert.equal(lookupModule(dep, 'crc32c'), 'kernel/crypto/crc32c_generic.ko');
  assert.equal(lookupModule(dep, 'crc32c-intel'), 'kernel/arch/x86/crypto/crc32c-intel.ko');
  assert.deepEqual(dep.softPre.get('ext4'), ['crypto-crc32c']);
  const cases: { names: string[]; order: string[] }[] = [
    { names: ['ipip'], order: ['kernel/net/ipv4/tunnel4.ko', 'kernel/net/ipv4/ip_tunnel.ko', 'kernel/net/ipv4/ipip.ko'] },
    {
      names: ['ip_vs', 'ip_vs_mh', 'nf_conntrack'],
      order: [
        'kernel/crypto/crc32c_generic.ko',
        'kernel/lib/libcrc32c.ko',
        'kernel/net/netfilter/nf_conntrack.ko',
        'kernel/net/netfilter/ipvs/ip_vs.ko',
        'kernel/net/netfilter/ipvs/ip_vs_mh.ko',
      ],
    },
    { names: ['9p', 'unix'], order: ['kernel/net/9p/9pnet.ko', 'kernel/fs/9p/9p.ko'] },
  ];
  const builtin = parseModulesBuiltin('kernel/net/unix/unix.ko\n');
  for (const c of cases) assert.deepEqual(resolveModules(dep, c.names, builtin).order, c.order, c.names.join(','));
  assert.deepEqual(resolveModules(dep, ['unix'], builtin).builtin, ['unix']);
  assert.throws(() => resolveModules(dep, ['nope'], builtin), /nope not found/);
  assert.throws(() => parseModulesDep('garbage line'), /bad line/);
});

test('VM command script: quoted env, cwd, argv run with exec, scripts as they are', () => {
  assert.equal(shellQuote(`it's`), `'it'\\''s'`);
  assert.equal(
    renderCommandScript(['node', '-e', 'console.log("a b")'], '/work/main', { A: `x'y` }),
    `export A='x'\\''y'\ncd '/work/main' || exit 125\nexec 'node' '-e' 'console.log("a b")'\n`,
  );
  assert.equal(renderCommandScript('ipvsadm -Sn\n', '/'), `cd '/' || exit 125\nipvsadm -Sn\n\n`);
  assert.throws(() => renderCommandScript('true', '/', { 'A-B': '1' }), /bad variable name/);
  assert.throws(() => renderCommandScript([], '/'), /empty argv/);
  // the rendered script is what bash runs: check it round-trips argv exactly
  const argv = ['printf', '%s|', `it's`, 'a b', '$HOME', '`x`', '\\n'];
  const res = spawnSync('bash', ['-c', renderCommandScript(argv, '/')], { encoding: 'utf8' });
  assert.equal(res.stdout, `it's|a b|$HOME|\`x\`|\\n|`);
});
