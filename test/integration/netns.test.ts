import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { NetLab, presentNetns, cleanLeftovers } from '../rig/netns.js';

const root = process.getuid?.() === 0;

test('netns: namespaces, veth, bridge, routes and sysctls; all removed on destroy', { skip: !root && 'needs root' }, async () => {
  const lab = await NetLab.create('nstest');
  try {
    await lab.addNs('a');
    await lab.addNs('r', { forwarding: true });
    await lab.addNs('b');
    await lab.addNs('sw');
    // a -- r on a point-to-point veth; r and b on a bridge in "sw"
    await lab.link('a', 'eth0', 'r', 'eth0');
    await lab.link('r', 'eth1', 'sw', 'p1');
    await lab.link('b', 'eth0', 'sw', 'p2');
    await lab.bridge('sw', 'br0', ['p1', 'p2']);
    await lab.addr('a', 'eth0', '10.9.1.2/24');
    await lab.addr('r', 'eth0', '10.9.1.1/24');
    await lab.addr('r', 'eth1', '10.9.2.1/24');
    await lab.addr('b', 'eth0', '10.9.2.2/24');
    await lab.route('a', '10.9.2.0/24', ['via', '10.9.1.1']);
    await lab.route('b', 'default', ['via', '10.9.2.1']);
    const fwd = await lab.exec('r', ['sysctl', '-n', 'net.ipv4.ip_forward']);
    assert.equal(fwd.stdout.trim(), '1');
    const ping = await lab.exec('a', ['ping', '-c', '1', '-W', '2', '10.9.2.2']);
    assert.match(ping.stdout, /1 received/);
    // cut the link: b becomes unreachable
    await lab.setLink('b', 'eth0', 'down');
    const lost = await lab.exec('a', ['ping', '-c', '1', '-W', '1', '10.9.2.2'], { allowFailure: true });
    assert.notEqual(lost.exitCode, 0);
  } finally {
    await lab.destroy();
  }
  const left = presentNetns().filter((n) => n.startsWith(`bv${process.pid}-nstest-`));
  assert.deepEqual(left, []);
});

test('netns: processes inside are killed on destroy', { skip: !root && 'needs root' }, async () => {
  const lab = await NetLab.create('nskill');
  await lab.addNs('x');
  const child = spawn('ip', ['netns', 'exec', lab.ns('x'), 'sleep', '300'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? -1 : null))));
  await new Promise((r) => setTimeout(r, 200));
  await lab.destroy();
  assert.equal(await exited, -1);
});

test('netns: leftovers of a dead owner are removed at the next create', { skip: !root && 'needs root' }, async () => {
  // A child process makes a namespace of its own and is killed before it can clean up.
  const script = `
    const { NetLab } = await import(${JSON.stringify(new URL('../rig/netns.ts', import.meta.url).href)});
    const lab = await NetLab.create('orphan');
    await lab.addNs('z');
    console.log(lab.ns('z'));
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const name = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => resolve(d.toString().trim()));
    child.on('exit', () => reject(new Error('child exited early')));
  });
  assert.ok(presentNetns().includes(name), `${name} exists while its owner lives`);
  const dead = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await dead;
  assert.ok(presentNetns().includes(name), 'SIGKILL leaves it behind');
  const removed = cleanLeftovers();
  assert.ok(removed.includes(name));
  assert.ok(!presentNetns().includes(name));
});
