import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectDataPlane } from '../../src/dataplane/types.js';
import type { Runner } from '../../src/exec/run.js';

const runner = (exitCode: number, calls: string[][]): Runner => async (argv) => {
  calls.push([...argv]);
  return { stdout: '', stderr: '', exitCode };
};

test('detectDataPlane: config override, /proc/net/ip_vs, modprobe, else nft', async () => {
  const calls: string[][] = [];
  assert.equal(await detectDataPlane({ run: runner(0, calls), exists: async () => true }, 'nft'), 'nft');
  assert.equal(await detectDataPlane({ run: runner(1, calls), exists: async () => false }, 'ipvs'), 'ipvs');
  assert.equal(await detectDataPlane({ run: runner(1, calls), exists: async () => true }), 'ipvs');
  assert.equal(calls.length, 0, 'no modprobe when overridden or already loaded');
  let loaded = false;
  const run: Runner = async (argv) => {
    calls.push([...argv]);
    loaded = true;
    return { stdout: '', stderr: '', exitCode: 0 };
  };
  assert.equal(await detectDataPlane({ run, exists: async () => loaded }, 'auto'), 'ipvs');
  assert.deepEqual(calls, [['modprobe', 'ip_vs']]);
  assert.equal(await detectDataPlane({ run: runner(1, calls), exists: async () => false }), 'nft');
});
