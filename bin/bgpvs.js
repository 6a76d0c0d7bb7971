#!/usr/bin/env node
// Runs the TypeScript sources through tsx when they are here (a checkout), else the compiled
// CLI (the image ships dist/ only), so a stale dist/ never shadows the sources.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli.ts');
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(source).href);
} else {
  await import(pathToFileURL(join(root, 'dist', 'src', 'cli.js')).href);
}
