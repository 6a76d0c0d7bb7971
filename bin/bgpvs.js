#!/usr/bin/env node
// The agent's CLI, built: `npm run build` compiles src/ (tsconfig.build.json) and bundles it
// with its production dependencies into dist/bgpvs.mjs (scripts/bundle.mjs). In a checkout the
// tests and the lab build it first; the image ships dist/ only.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bgpvs.mjs');
if (!existsSync(cli)) {
  console.error(`bgpvs: ${cli} not found; run: npm run build`);
  process.exit(1);
}
await import(pathToFileURL(cli).href);
