import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildGuestScript, guestBuildDir } from '../rig/guest-build.js';
import { repoRoot } from '../rig/paths.js';

test('guest build: the lab guest becomes one ES module; each repository module keeps its own location', async () => {
  const out = await buildGuestScript('test/vm/guest/ipvs-lab.ts');
  assert.equal(out, join(guestBuildDir, 'test', 'vm', 'guest', 'ipvs-lab.mjs'));
  const js = await readFile(out, 'utf8');
  assert.doesNotMatch(js, /import\.meta/, 'no import.meta left: the bundle lives elsewhere than its sources');
  // lab/pods.ts finds its responder next to itself, src/paths.ts the repository root
  assert.ok(js.includes(`new URL("./pod-responder.sh", "file://${repoRoot}/lab/pods.ts")`), 'pod responder resolved from lab/');
  assert.ok(js.includes(`fileURLToPath("file://${repoRoot}/src/paths.ts")`), 'repoRoot from src/paths.ts');
  // packages stay imports, resolved from this checkout's node_modules; no tsx
  assert.match(js, /^import .* from "@kubernetes\/client-node";$/m);
  assert.doesNotMatch(js, /\btsx\b.*from/);
  assert.ok(js.endsWith('//# sourceMappingURL=ipvs-lab.mjs.map\n'));
});

test('guest build: the compiled probe runs with plain node and names TypeScript lines in its errors', async () => {
  const out = await buildGuestScript('test/vm/fixtures/guest-probe.ts');
  // without an argument the probe throws its usage error at line 11 of the source
  let stderr = '';
  try {
    execFileSync(process.execPath, ['--enable-source-maps', out], { stdio: 'pipe', env: { PATH: process.env.PATH ?? '' } });
  } catch (err) {
    stderr = String((err as { stderr: Buffer }).stderr);
  }
  assert.match(stderr, /usage: guest-probe\.ts <output\.json>/);
  assert.match(stderr, /test\/vm\/fixtures\/guest-probe\.ts:11/);
});
