import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { presentNetns } from '../rig/netns.js';
import { repoRoot } from '../rig/paths.js';

const root = process.getuid?.() === 0;

test('lab CLI: `lab up` brings the topology, API server and router up in the background; `lab down` removes it all', { skip: !root && 'needs root', timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bgpvs-labcli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, BGPVS_LAB_DIR: dir } as Record<string, string>;
  const cli = (...args: string[]) => run([process.execPath, '--import', 'tsx', join(repoRoot, 'lab', 'main.ts'), ...args], { cwd: repoRoot, env, allowFailure: true, timeoutMs: 170_000 });
  t.after(() => cli('down'));
  const up = await cli('up');
  assert.equal(up.exitCode, 0, up.stderr);
  const summary = JSON.parse(up.stdout.slice(up.stdout.indexOf('{'))) as {
    apiServer: string;
    namespaces: Record<string, string>;
    nodes: Array<{ name: string }>;
    routers: Record<string, { peers: string[] }>;
  };
  assert.match(summary.apiServer, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(summary.nodes.map((n) => n.name), ['node1', 'node2', 'node3']);
  assert.equal(summary.routers.router1?.peers.length, 3);
  const namespaces = Object.values(summary.namespaces);
  for (const ns of namespaces) assert.ok(presentNetns().includes(ns), `${ns} exists while the lab runs`);
  // The API server answers from a node namespace (through the bridge), at the same URL.
  const ready = await run(['curl', '-sk', '--max-time', '5', `${summary.apiServer}/readyz`], { netns: summary.namespaces.node1 });
  assert.equal(ready.stdout.trim(), 'ok');
  const second = await cli('up');
  assert.notEqual(second.exitCode, 0, 'a second lab is refused');
  assert.match(second.stderr, /already running/);
  const down = await cli('down');
  assert.match(down.stdout, /lab stopped/);
  for (const ns of namespaces) assert.ok(!presentNetns().includes(ns), `${ns} removed`);
  const status = await cli('status');
  assert.equal(JSON.parse(status.stdout).phase, 'stopped');
});
