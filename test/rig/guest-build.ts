/**
 * The VM's guest scripts as compiled JavaScript: each entry (a repository TypeScript file such
 * as test/vm/guest/ipvs-lab.ts) is bundled by esbuild, with every repository module it imports,
 * into one ES module `<repo>/.vm-guest/<entry path>.mjs` that the guest's plain `node` runs. No
 * tsx, esbuild service or wasm lexer starts inside the VM (issue 18).
 *
 * - Packages stay imports (`packages: 'external'`): the bundle lives inside this checkout, so
 *   node resolves them from its node_modules as it does for the sources, already JavaScript.
 * - Each repository module keeps its own location: `import.meta.url` / `import.meta.dirname`
 *   in it become its source file's, so `new URL('./pod-responder.sh', import.meta.url)`
 *   (lab/pods.ts), src/paths.ts's `repoRoot` and golden files resolve exactly as from source.
 * - A linked source map next to it: with `node --enable-source-maps` (see guestNode) stack
 *   traces name the TypeScript lines.
 * Written to a temporary name and renamed, so a concurrent build never leaves half a file.
 */
import { build, type Plugin } from 'esbuild';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BgpvsError } from '../../src/errors.js';
import { shellQuote } from './kernel-vm.js';
import { repoRoot } from './paths.js';

/** Where the bundles go (gitignored). */
export const guestBuildDir = join(repoRoot, '.vm-guest');

/** Replaces `import.meta.url` / `import.meta.dirname` in each repository module by its source file's. */
const ownLocation: Plugin = {
  name: 'own-location',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const contents = text
        .replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href))
        .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)));
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * Bundle one entry (a path relative to the repository, or absolute inside it); returns the
 * absolute path of the .mjs. Cheap (tens of ms), so each test builds what it boots.
 */
export async function buildGuestScript(entry: string): Promise<string> {
  const abs = isAbsolute(entry) ? entry : join(repoRoot, entry);
  const rel = relative(repoRoot, abs);
  if (rel.startsWith('..') || !rel.endsWith('.ts')) throw new BgpvsError(`guest entry must be a .ts file in the repository: ${entry}`);
  const out = join(guestBuildDir, rel.replace(/\.ts$/, '.mjs'));
  const res = await build({
    entryPoints: [abs],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    plugins: [ownLocation],
    write: false,
    logLevel: 'silent',
  });
  await mkdir(dirname(out), { recursive: true });
  // The map first, then the module that names it.
  const files = [...res.outputFiles].sort((a, b) => Number(a.path.endsWith('.mjs')) - Number(b.path.endsWith('.mjs')));
  for (const f of files) {
    const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.tmp`);
    await writeFile(tmp, f.contents);
    await rename(tmp, f.path);
  }
  return out;
}

/**
 * The guest command line (a shell fragment) that runs `entry` compiled: build it here, then
 * `node --enable-source-maps '<bundle>'`; append the script's arguments.
 */
export async function guestNode(entry: string): Promise<string> {
  const bundle = await buildGuestScript(entry);
  return `node --enable-source-maps ${shellQuote(bundle)}`;
}
