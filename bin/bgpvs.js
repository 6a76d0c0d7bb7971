#!/usr/bin/env node
// The agent's CLI, compiled: `npm run build` (tsconfig.build.json) turns src/ into dist/.
// In a checkout the tests and the lab build it first; the image ships dist/ only.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
if (!existsSync(cli)) {
  console.error(`bgpvs: ${cli} not found; run: npm run build`);
  process.exit(1);
}
await import(pathToFileURL(cli).href);
