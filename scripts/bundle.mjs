// The second half of `npm run build`: dist/cli.js (tsc's output of src/) and every production
// dependency it imports → one ES module, dist/bgpvs.mjs, which bin/bgpvs.js runs. Loading one
// file instead of ~1,000 takes the agent's start from ~1.1 s to ~0.35 s on 2 cores; start-up
// sits on the path of every restart's BGP session (bench:lab agent_start_to_session_ms).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'dist', 'cli.js')],
  outfile: join(root, 'dist', 'bgpvs.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // CommonJS dependencies call require() on Node's built-ins.
  banner: { js: "import { createRequire as __bgpvsRequire } from 'node:module'; const require = __bgpvsRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
