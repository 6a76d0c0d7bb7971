/**
 * The agent follows BGPPeer and IPPool objects while it runs (no restart), against the real
 * API server, with its real gobgpd:
 *   - a BGPPeer created after the agent started becomes a gobgpd peer (ListPeer), an edit
 *     changes it, a peer whose node selector does not match this node is left out, and a
 *     deleted one is removed; the config peer is never touched; the allocator's leader sets
 *     condition Accepted on each object (False, with why, for one the agents cannot use);
 *   - an IPPool created after start: a Service gets an IP from it, and the node programs and
 *     announces that IP (a VIP outside every known pool would not be announced).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { IpamController } from '../../src/agent/ipam-controller.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { KubeApi } from '../rig/kube-api.js';
import { waitFor } from '../../src/util/wait.js';
import { ensureNamespace, lbService, poolApi, startCluster, waitIps } from '../rig/k8s-helpers.js';
import { localEndpoint, startNodeAgent, type NodeAgent } from '../rig/k8s-node-agent.js';

let api: KubeApi;
let admin: KubeConfig;
let ctrl: IpamController;
let node: NodeAgent;
const peerApi = (kc: KubeConfig) => {
  const co = kc.makeApiClient(CustomObjectsApi);
  const g = { group: 'bgpvs.io', version: 'v1alpha1', plural: 'bgppeers' };
  return {
    create: (name: string, spec: object) => co.createClusterCustomObject({ ...g, body: { apiVersion: 'bgpvs.io/v1alpha1', kind: 'BGPPeer', metadata: { name }, spec } }),
    /** A JSON patch (client-node 1.x sends custom-object patches as application/json-patch+json). */
    setAsn: (name: string, asn: number) => co.patchClusterCustomObject({ ...g, name, body: [{ op: 'replace', path: '/spec/asn', value: asn }] }),
    delete: (name: string) => co.deleteClusterCustomObject({ ...g, name }),
    accepted: async (name: string) => {
      const o = (await co.getClusterCustomObject({ ...g, name })) as { status?: { conditions?: { type: string; status: string; message?: string }[] } };
      return o.status?.conditions?.find((c) => c.type === 'Accepted');
    },
  };
};

before(async () => {
  ({ api, admin } = await startCluster());
  await poolApi(admin).create('first', { cidrs: ['192.0.2.0/28'] });
  await ensureNamespace(admin.makeApiClient(CoreV1Api), 'live');
  const kc = await api.tokenKubeConfig('bgpvs-system', 'bgpvs', { create: false });
  ctrl = new IpamController({ kc, logger: silentLogger(), identity: 'node-a', config: { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true }, lease: { durationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 } });
  await ctrl.start();
  node = await startNodeAgent(api, admin, {
    nodeName: 'node-a',
    nodeAddress: '10.0.0.11',
    logger: silentLogger(),
    extraArgs: [`--bgp.peers=${JSON.stringify([{ address: '10.0.0.1', asn: 64512 }])}`],
  });
});

after(async () => {
  await ctrl?.stop();
  await node?.stop();
  await api?.stop();
});

it('a BGPPeer created, edited and deleted after start reaches gobgpd; one selecting other nodes does not', async () => {
  await waitFor('config peer', async () => ((await node.peers())['10.0.0.1'] === 64512 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  const peers = peerApi(admin);
  await peers.create('tor-b', { address: '10.0.0.2', asn: 64513 });
  await peers.create('elsewhere', { address: '10.0.0.3', asn: 64514, nodeSelector: { matchLabels: { rack: 'z' } } });
  assert.deepEqual(
    await waitFor('BGPPeer tor-b in gobgpd', async () => {
      const p = await node.peers();
      return p['10.0.0.2'] ? p : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 }),
    { '10.0.0.1': 64512, '10.0.0.2': 64513 },
  );
  // The allocator's leader reports on each object whether the agents can use it.
  await peers.create('needs-local-asn', { address: '10.0.0.4', asn: 64515, localASN: 65010 });
  const rejected = await waitFor('Accepted=False on needs-local-asn', async () => {
    const c = await peers.accepted('needs-local-asn');
    return c?.status === 'False' ? c : undefined;
  }, { timeoutMs: 20_000, intervalMs: 100 });
  assert.match(rejected.message ?? '', /localASN/);
  await waitFor('Accepted=True on tor-b', async () => ((await peers.accepted('tor-b'))?.status === 'True' ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  assert.equal((await node.peers())['10.0.0.4'], undefined, 'an object the agent cannot use reached gobgpd');
  // GET /status shows the peers as gobgpd's WatchEvent reports them (no router answers here).
  assert.deepEqual(
    await waitFor('tor-b in /status', async () => {
      const st = await node.status();
      return st.peers.length === 2 ? st.peers.map((p) => [p.address, p.asn]) : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 }),
    [['10.0.0.1', 64512], ['10.0.0.2', 64513]],
  );
  await peers.setAsn('tor-b', 64600);
  await waitFor('BGPPeer tor-b edited in gobgpd', async () => ((await node.peers())['10.0.0.2'] === 64600 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  await peers.delete('tor-b');
  await waitFor('BGPPeer tor-b removed from gobgpd', async () => ((await node.peers())['10.0.0.2'] === undefined ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  assert.deepEqual(await node.peers(), { '10.0.0.1': 64512 }, 'the config peer stays; the peer for other nodes never came');
  assert.deepEqual((await node.status()).peers.map((p) => p.address), ['10.0.0.1'], 'a deleted BGPPeer leaves /status');
});

it('an IPPool created after start: a Service gets an IP from it and the node announces it', async () => {
  const core = admin.makeApiClient(CoreV1Api);
  await poolApi(admin).create('second', { cidrs: ['198.51.100.0/28'], serviceAllocation: { priority: 0, serviceSelector: { matchLabels: { pool: 'second' } } } });
  await core.createNamespacedService({ namespace: 'live', body: lbService('live', 'web', { etp: 'Local', labels: { pool: 'second' } }) });
  await localEndpoint(admin, 'live', 'web', 'node-a', '10.244.0.7');
  assert.deepEqual(await waitIps(core, 'live', 'web', undefined, 20_000), ['198.51.100.0']);
  await waitFor('node announces 198.51.100.0/32', async () => ((await node.paths())['198.51.100.0/32'] ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  const vs = (await node.virtualServers()) as { vip?: string }[];
  assert.ok(vs.some((v) => v.vip === '198.51.100.0'), `nft has no virtual server for 198.51.100.0: ${JSON.stringify(vs)}`);
  const st = await node.status();
  assert.ok(st.synced && st.advertised.includes('198.51.100.0/32'), JSON.stringify(st));
  assert.deepEqual(st.services.find((d) => d.service === 'live/web'), { service: 'live/web', ip: '198.51.100.0', advertised: true });
});
