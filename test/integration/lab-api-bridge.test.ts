import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab } from '../rig/netns.js';
import { KubeApi } from '../rig/kube-api.js';
import { ApiBridge } from '../../lab/api-bridge.js';

const root = process.getuid?.() === 0;

test('lab api bridge: a process in a namespace reaches the host-loopback API server at the same URL', { skip: !root && 'needs root' }, async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'bgpvs-bridge-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lab = await NetLab.create('apibridge');
  t.after(() => lab.destroy());
  await lab.addNs('n1');
  // Without the bridge, the namespace's own loopback has nothing on that port.
  const before = await lab.exec('n1', ['curl', '-sk', '--max-time', '2', `${api.url}/readyz`], { allowFailure: true });
  assert.notEqual(before.exitCode, 0);
  const bridge = new ApiBridge({ dir, port: api.ports.apiServer });
  t.after(() => bridge.stop());
  await bridge.start();
  await bridge.attach(lab, 'n1');
  // The admin kubeconfig works unchanged inside the namespace.
  const r = await lab.exec('n1', ['curl', '-s', '--max-time', '5', '--cacert', api.pki.caCert, `${api.url}/readyz`], { allowFailure: true });
  assert.equal(r.stdout.trim(), 'ok', r.stderr);
});
