/**
 * Smoke test of the KubeApi harness: a real etcd + kube-apiserver on loopback.
 * Needs no root (only the pinned binaries from scripts/setup.sh); runs in the integration tier.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CoreV1Api,
  DiscoveryV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import { spawnDaemon } from '../../src/exec/run.js';
import { KubeApi, KubeApiError, cleanLeftovers, whoAmI } from '../rig/kube-api.js';
import { sleep, waitFor } from '../../src/util/wait.js';

const ns = 'smoke';

/** Running (a zombie whose parent has not reaped it yet counts as gone). */
function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** PIDs of every process whose command line mentions `text` (e.g. an instance directory). */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text)) out.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

describe('KubeApi: real etcd + kube-apiserver on loopback', () => {
  let api: KubeApi;
  let kc: KubeConfig;
  let core: CoreV1Api;

  before(async () => {
    const t0 = performance.now();
    api = await KubeApi.start();
    const secs = (performance.now() - t0) / 1000;
    console.log(`# KubeApi ready in ${secs.toFixed(2)} s (pki ${api.timings.pkiMs} ms, etcd ${api.timings.etcdReadyMs} ms, apiserver ${api.timings.apiServerReadyMs} ms)`);
    kc = api.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    await api?.stop();
  });

  it('listens on loopback only and writes an admin kubeconfig (system:masters)', async () => {
    assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(existsSync(api.kubeconfigPath));
    const me = await whoAmI(kc);
    assert.equal(me.username, 'bgpvs-admin');
    assert.ok(me.groups.includes('system:masters'));
  });

  it('creates a Service and an EndpointSlice and reads them back', async () => {
    const svc: V1Service = {
      metadata: { name: 'web', namespace: ns, annotations: { 'bgpvs.io/test': 'yes' } },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'web' },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
        externalTrafficPolicy: 'Local',
      },
    };
    const created = await core.createNamespacedService({ namespace: ns, body: svc });
    assert.match(created.spec?.clusterIP ?? '', /^10\.96\.\d+\.\d+$/);

    const slice: V1EndpointSlice = {
      metadata: {
        name: 'web-1',
        namespace: ns,
        labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'bgpvs-test' },
      },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.1.5'], nodeName: 'node-a', conditions: { ready: true, serving: true, terminating: false } },
        { addresses: ['10.244.2.7'], nodeName: 'node-b', conditions: { ready: false, serving: true, terminating: true } },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({ namespace: ns, body: slice });

    const svcBack = await core.readNamespacedService({ name: 'web', namespace: ns });
    assert.equal(svcBack.spec?.type, 'LoadBalancer');
    assert.equal(svcBack.spec?.externalTrafficPolicy, 'Local');
    assert.equal(svcBack.spec?.ports?.[0]?.port, 80);
    assert.ok((svcBack.spec?.ports?.[0]?.nodePort ?? 0) >= 30000, 'a LoadBalancer Service gets a nodePort');
    assert.ok((svcBack.spec?.healthCheckNodePort ?? 0) > 0, 'eTP=Local gets a healthCheckNodePort');
    assert.equal(svcBack.metadata?.annotations?.['bgpvs.io/test'], 'yes');

    const list = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' });
    assert.equal(list.items.length, 1);
    const back = list.items[0]!;
    assert.equal(back.addressType, 'IPv4');
    assert.deepEqual(back.endpoints.map((e) => [e.addresses[0], e.nodeName, e.conditions?.ready, e.conditions?.terminating]), [
      ['10.244.1.5', 'node-a', true, false],
      ['10.244.2.7', 'node-b', false, true],
    ]);
    assert.deepEqual(back.ports?.map((p) => [p.name, p.port, p.protocol]), [['http', 8080, 'TCP']]);
  });

  it('gives a dual-stack Service an IPv4 and an IPv6 clusterIP', async () => {
    const created = await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web-ds' },
        spec: { type: 'LoadBalancer', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [{ port: 443, protocol: 'TCP' }] },
      },
    });
    const ips = created.spec?.clusterIPs ?? [];
    assert.equal(ips.length, 2);
    assert.match(ips[0]!, /^10\.96\./);
    assert.match(ips[1]!, /^fd00:96::/);
    assert.deepEqual(created.spec?.ipFamilies, ['IPv4', 'IPv6']);
  });

  it('authenticates a ServiceAccount token as the ServiceAccount, with only its RBAC rights', async () => {
    const saKc = await api.tokenKubeConfig(ns, 'agent');
    const me = await whoAmI(saKc);
    assert.equal(me.username, `system:serviceaccount:${ns}:agent`);
    assert.ok(me.groups.includes(`system:serviceaccounts:${ns}`));

    const saCore = saKc.makeApiClient(CoreV1Api);
    await assert.rejects(saCore.listNamespacedService({ namespace: ns }), (err: unknown) => {
      assert.equal(statusCode(err), 403);
      assert.match(String((err as { body?: unknown }).body), new RegExp(`system:serviceaccount:${ns}:agent`));
      return true;
    });

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'svc-reader' }, rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'agent-svc-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'svc-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: ns }],
      },
    });
    const names = await waitFor('RBAC grant to take effect', async () => (await saCore.listNamespacedService({ namespace: ns })).items.map((s) => s.metadata?.name), {
      timeoutMs: 10_000,
    });
    assert.deepEqual(names.sort(), ['web', 'web-ds']);

    // A kubeconfig file for a child process (the agent) carries the same identity.
    const file = await api.tokenKubeconfigFile(ns, 'agent');
    assert.match(readFileSync(file, 'utf8'), /token: /);
  });

  it('a paused API server hangs requests until resumed', async () => {
    api.pauseApiServer();
    const pending = core.readNamespace({ name: ns });
    const first = await Promise.race([pending.then(() => 'answered'), sleep(1_000).then(() => 'hung')]);
    api.resumeApiServer();
    assert.equal(first, 'hung');
    assert.equal((await pending).metadata?.name, ns);
  });

  it('stops and restarts the API server on the same port, keeping etcd data', async () => {
    const { etcd, apiServer } = api.pids();
    const t0 = performance.now();
    await api.stopApiServer();
    const stoppedMs = performance.now() - t0;
    assert.equal(alive(apiServer), false);
    assert.equal(api.pids().etcd, etcd);
    await assert.rejects(core.readNamespacedService({ name: 'web', namespace: ns }), /ECONNREFUSED/);
    const t1 = performance.now();
    await api.startApiServer();
    console.log(`# stopApiServer ${(stoppedMs / 1000).toFixed(2)} s, startApiServer ${((performance.now() - t1) / 1000).toFixed(2)} s`);
    assert.notEqual(api.pids().apiServer, apiServer);
    // Same URL, same CA, same admin certificate: the old KubeConfig still works.
    const svc = await core.readNamespacedService({ name: 'web', namespace: ns });
    assert.equal(svc.spec?.type, 'LoadBalancer');
    // ServiceAccount tokens signed before the restart stay valid.
    const saKc = await api.tokenKubeConfig(ns, 'agent');
    assert.equal((await whoAmI(saKc)).username, `system:serviceaccount:${ns}:agent`);
  });

  it('runs a second instance side by side on other ports', async () => {
    const other = await KubeApi.start();
    try {
      assert.notEqual(other.url, api.url);
      assert.notEqual(other.ports.etcdClient, api.ports.etcdClient);
      const otherCore = other.kubeConfig().makeApiClient(CoreV1Api);
      await assert.rejects(otherCore.readNamespace({ name: ns }), (err: unknown) => statusCode(err) === 404);
    } finally {
      await other.stop();
    }
  });

  it('stop() kills exactly its processes and removes its directory', async () => {
    const { etcd, apiServer } = api.pids();
    assert.ok(alive(etcd) && alive(apiServer));
    const dir = api.dir;
    assert.deepEqual(processesMentioning(dir).sort(), [etcd, apiServer].sort());
    await api.stop();
    assert.equal(alive(etcd), false);
    assert.equal(alive(apiServer), false);
    assert.deepEqual(processesMentioning(dir), []);
    assert.equal(existsSync(dir), false);
    assert.deepEqual(api.pids(), { etcd: undefined, apiServer: undefined });
  });
});

describe('KubeApi: failures and leftovers', () => {
  it('a failed start reports the log tail and leaves nothing behind', async () => {
    await assert.rejects(KubeApi.start({ extraApiServerArgs: ['--no-such-flag'] }), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.component, 'kube-apiserver');
      assert.match(err.message, /unknown flag: --no-such-flag/);
      const dir = dirname(err.logFile);
      assert.equal(existsSync(dir), false);
      assert.deepEqual(processesMentioning(dir), []);
      return true;
    });
  });

  it("kills a dead owner's daemons and removes its directory", async () => {
    const root = await mkdtemp(join(tmpdir(), 'bgpvs-kubeapi-test-root-'));
    try {
      const report = join(root, 'owner.json');
      const script = `
        import { writeFileSync } from 'node:fs';
        const { KubeApi } = await import(${JSON.stringify(new URL('../rig/kube-api.ts', import.meta.url).href)});
        const api = await KubeApi.start({ dir: ${JSON.stringify(root)} });
        writeFileSync(${JSON.stringify(report)}, JSON.stringify({ dir: api.dir, pids: api.pids() }));
        setInterval(() => {}, 1000);`;
      const owner = spawnDaemon([process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { logFile: join(root, 'owner.log') });
      const info = await waitFor(
        'the owner process to start its KubeApi',
        () => (existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as { dir: string; pids: { etcd: number; apiServer: number } }) : undefined),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      // The owner dies without a chance to clean up: its daemons stay behind.
      process.kill(owner.pid!, 'SIGKILL');
      await owner;
      assert.ok(alive(info.pids.etcd) && alive(info.pids.apiServer), 'daemons outlive a SIGKILLed owner');

      assert.equal(cleanLeftovers(root), 1);
      await waitFor('leftover daemons to die', () => (!alive(info.pids.etcd) && !alive(info.pids.apiServer) ? true : undefined), { timeoutMs: 5_000 });
      assert.equal(existsSync(info.dir), false);
      assert.deepEqual(processesMentioning(info.dir), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
