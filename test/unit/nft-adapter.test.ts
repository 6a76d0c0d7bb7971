import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftDataPlane } from '../../src/dataplane/nft/adapter.js';
import { renderNft, type ClusterDsrContext } from '../../src/dataplane/nft/render.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RunOptions, RunResult } from '../../src/exec/run.js';
import type { RealServer, VirtualServer } from '../../src/model/types.js';

/**
 * A small stand-in for nft holding our sets' and maps' elements. A whole script replaces
 * them; element statements apply all or nothing, refusing what nft refuses (a missing set,
 * deleting a missing element, adding an existing one, more elements than a declared size).
 */
class FakeNft {
  maps = new Map<string, Map<string, string>>();
  sizes = new Map<string, number>();
  scripts = 0;
  statements: string[] = [];
  refuseNext = false;

  run = async (argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
    assert.deepEqual(argv, ['nft', '-f', '-'], 'the adapter only ever runs nft -f -');
    const input = opts.input ?? '';
    try {
      if (this.refuseNext) {
        this.refuseNext = false;
        throw new Error('Error: Could not process rule: No such file or directory');
      }
      if (input.startsWith('# bgpvs')) this.replace(input);
      else this.apply(input.trimEnd().split('\n'));
      return { stdout: '', stderr: '', exitCode: 0 };
    } catch (err) {
      if (!opts.allowFailure) throw err;
      return { stdout: '', stderr: (err as Error).message, exitCode: 1 };
    }
  };

  private replace(script: string): void {
    const maps = new Map<string, Map<string, string>>();
    const sizes = new Map<string, number>();
    let table = '';
    let cur: Map<string, string> | undefined;
    let name = '';
    for (const line of script.split('\n')) {
      const t = /^table (inet|netdev) \S+ \{$/.exec(line);
      if (t) table = t[1]!;
      const d = /^ {2}(?:map|set) (\S+) \{$/.exec(line);
      if (d) maps.set((name = `${table} ${d[1]}`), (cur = new Map()));
      const sz = /^ {4}size (\d+)$/.exec(line);
      if (sz) sizes.set(name, Number(sz[1]));
      const e = /^ {6}(.+?),?$/.exec(line);
      if (e && cur) {
        const [k, v = ''] = e[1]!.split(' : ');
        cur.set(k!, v);
      }
      if (line === '  }') cur = undefined;
    }
    this.maps = maps;
    this.sizes = sizes;
    this.scripts++;
  }

  private apply(statements: readonly string[]): void {
    const next = new Map([...this.maps].map(([k, v]) => [k, new Map(v)]));
    for (const st of statements) {
      const m = /^(delete|add) element (inet bgpvs|netdev bgpvs_dr) (\S+) \{ (.*) \}$/.exec(st);
      assert.ok(m, `statement on our tables only: ${st}`);
      const key = `${m[2]!.split(' ')[0]} ${m[3]}`;
      const els = next.get(key);
      if (!els) throw new Error(`Error: No such file or directory: ${key}`);
      for (const item of m[4]!.split(', ')) {
        const [k, v = ''] = item.split(' : ');
        if (m[1] === 'delete' && !els.delete(k!)) throw new Error(`Error: element ${k} missing in ${key}`);
        if (m[1] === 'add') {
          if (els.has(k!)) throw new Error(`Error: element ${k} exists in ${key}`);
          els.set(k!, v);
        }
      }
      const size = this.sizes.get(key);
      if (size !== undefined && els.size > size) throw new Error(`Error: ${key} is full`);
    }
    this.maps = next;
    this.statements.push(...statements);
  }
}

const vs = (vip: string, realServers: RealServer[]): VirtualServer => ({
  vip, protocol: 'TCP', port: 80, family: 'IPv4', scheduler: 'mh', schedulerFlags: [], persistenceSeconds: 0,
  forwarding: 'nat', services: ['x/y'], realServers,
});
const rs = (address: string, nodeName = 'a'): RealServer => ({ address, port: 8080, weight: 1, nodeName });

test('nft adapter (fake nft): full, then element passes equal to a full render; refused update, timer and size replace', async () => {
  const nft = new FakeNft();
  let clock = 0;
  const dp = new NftDataPlane({ run: nft.run, logger: silentLogger(), nodeName: 'a', buckets: 7, fullResyncMs: 1000, now: () => clock, minMapSize: 16 });
  const expectState = (desired: VirtualServer[], what: string) => {
    const r = renderNft({ virtualServers: desired, nodeName: 'a', buckets: 7 });
    assert.deepEqual(nft.maps, new Map(r.maps.map((m) => [`${m.table} ${m.name}`, new Map(m.elements)])), what);
  };
  const pass = async (desired: VirtualServer[], mode: string, what: string) => {
    assert.equal((await dp.sync(desired)).mode, mode, `${what}: mode`);
    expectState(desired, what);
    assert.deepEqual(await dp.sync(desired), { mode: 'noop', operations: 0, skipped: [] }, `${what}: a second pass yields zero operations`);
  };

  let desired = [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.1', 'b')])];
  await pass(desired, 'full', 'first pass');
  desired = [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.2', 'b')])];
  await pass(desired, 'incremental', 'one endpoint changes');
  desired = [...desired, vs('10.100.0.2', [rs('10.244.2.2', 'b')])];
  await pass(desired, 'incremental', 'a service sharing a remote endpoint');
  assert.equal(nft.scripts, 1, 'element passes never replace the tables');

  nft.refuseNext = true;
  desired = [desired[1]!];
  await pass(desired, 'full', 'a refused element update falls back to a replacement in the same pass');

  clock += 1000;
  await pass(desired, 'full', 'the resync timer');

  // 7 elements in be4, declared size 16: two more services (14) do not fit
  desired = [...desired, vs('10.100.0.3', [rs('10.244.1.3')]), vs('10.100.0.4', [rs('10.244.1.4')])];
  await pass(desired, 'full', 'more elements than the declared size');
  assert.equal(nft.scripts, 4);
});

test('nft adapter (fake nft): Cluster DSR forwarding is map elements, updated element by element', async () => {
  const nft = new FakeNft();
  let cluster: ClusterDsrContext = { device: 'eth0', nodes: new Map([['b', '10.0.0.12']]) };
  const dp = new NftDataPlane({ run: nft.run, logger: silentLogger(), nodeName: 'a', buckets: 7, clusterContext: () => Promise.resolve(cluster) });
  const expectState = (desired: VirtualServer[], what: string) => {
    const r = renderNft({ virtualServers: desired, nodeName: 'a', buckets: 7, cluster });
    assert.deepEqual(nft.maps, new Map(r.maps.map((m) => [`${m.table} ${m.name}`, new Map(m.elements)])), what);
  };
  const pass = async (desired: VirtualServer[], mode: string, what: string) => {
    assert.equal((await dp.sync(desired)).mode, mode, `${what}: mode`);
    expectState(desired, what);
    assert.equal((await dp.sync(desired)).mode, 'noop', `${what}: a second pass is a no-op`);
  };
  const fwd = () => [...(nft.maps.get('netdev fwd4') ?? new Map<string, string>()).values()];

  let desired = [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.2.1', 'b')])];
  await pass(desired, 'full', 'first pass');
  assert.ok(fwd().length > 0 && fwd().every((v) => v === '10.0.0.12'));
  nft.statements = [];

  cluster = { device: 'eth0', nodes: new Map([['b', '10.0.0.22']]) };
  await pass(desired, 'incremental', 'node b\'s address changes');
  assert.ok(nft.statements.length > 0 && nft.statements.every((s) => / netdev bgpvs_dr fwd4 /.test(s)), `only fwd4 elements change: ${nft.statements.join('\n')}`);
  assert.ok(fwd().every((v) => v === '10.0.0.22'));

  desired = [vs('10.100.0.1', [rs('10.244.1.1'), rs('10.244.3.1', 'c')])];
  await pass(desired, 'incremental', 'the remote endpoint moves to node c, not on-link: masquerade, no forwarding');
  assert.deepEqual(fwd(), []);
  assert.deepEqual([...nft.maps.get('inet remote4')!.keys()], ['10.244.3.1']);

  cluster = { device: 'eth0', nodes: new Map([['b', '10.0.0.22'], ['c', '10.0.0.13']]) };
  await pass(desired, 'incremental', 'node c becomes reachable');
  assert.ok(fwd().length > 0 && fwd().every((v) => v === '10.0.0.13'));

  cluster = { device: 'eth1', nodes: cluster.nodes };
  await pass(desired, 'full', 'another device changes the chains: the tables are replaced');
  assert.equal(nft.scripts, 2);
});
