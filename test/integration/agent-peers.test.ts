/**
 * Per-node BGP settings from the real API server, used by a real gobgpd against a real FRR:
 * the Node's labels pick its peers, its annotation overrides the ASN, and the peer password
 * comes from a Secret (FRR refuses the session without it: TCP-MD5); an annotation overrides
 * the router-id too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { KubeApi } from '../rig/kube-api.js';
import { NetLab } from '../rig/netns.js';
import { FrrRouter, frrSkipReason, kernelRoutes } from '../rig/frr-router.js';
import { gobgpProtoDir, toolPath } from '../rig/paths.js';
import { loadConfig } from '../../src/config/config.js';
import { speakerConfigFor } from '../../src/agent/peers.js';
import { peerSources } from '../../src/agent/node-plan.js';
import { PeerSecrets, apiSecretSource } from '../../src/k8s/secrets.js';
import { GobgpClient } from '../../src/bgp/gobgp-client.js';
import { GobgpSpeaker } from '../../src/bgp/speaker.js';
import { GobgpdSupervisor } from '../../src/bgp/supervisor.js';
import { spawnDaemon } from '../../src/exec/run.js';
import { waitFor } from '../../src/util/wait.js';
import { silentLogger } from '../../src/observability/logger.js';


const skip = frrSkipReason();

test('agent peers: Node labels pick the peer, annotations override the ASN and router-id, the password comes from a Secret', { skip, timeout: 120_000 }, async (t) => {
  const api = await KubeApi.start();
  t.after(() => api.stop());
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNode({ body: { metadata: { name: 'n0', labels: { rack: 'a' }, annotations: { 'bgpvs.io/asn': '65077', 'bgpvs.io/router-id': '10.9.9.9' } } } });
  await core.createNamespace({ body: { metadata: { name: 'bgpvs-system' } } });
  await core.createNamespacedSecret({ namespace: 'bgpvs-system', body: { metadata: { name: 'tor-a' }, stringData: { password: 'tor-a-secret' } } });

  const cfg = loadConfig({
    argv: [
      '--node-name=n0',
      '--bgp.asn=65001',
      '--bgp.peers=' +
        JSON.stringify([
          { address: '10.0.0.1', asn: 64512, nodeSelector: { matchLabels: { rack: 'a' } }, passwordSecretRef: { namespace: 'bgpvs-system', name: 'tor-a', key: 'password' } },
          { address: '10.0.0.99', asn: 64512, nodeSelector: { matchLabels: { rack: 'b' } } },
        ]),
    ],
  });
  // As a node pass does: the Node and the peers' Secrets read from the API, then the pure step.
  const node = await core.readNode({ name: 'n0' });
  const sources = peerSources(cfg, { peers: [] });
  const secrets = await new PeerSecrets({ source: apiSecretSource(api.kubeConfig()), logger: silentLogger() }).read(sources.secretRefs);
  const speakerCfg = speakerConfigFor(cfg, '10.0.0.11', node, sources.peers, secrets, ['10.100.0.0/24']).config;
  assert.equal(speakerCfg.asn, 65077, 'the Node annotation overrides --bgp.asn');
  assert.equal(speakerCfg.routerId, '10.9.9.9', 'the Node annotation overrides the router-id');
  assert.deepEqual(speakerCfg.peers.map((p) => [p.address, p.password]), [['10.0.0.1', 'tor-a-secret']]);

  // The same config, for real: FRR expects AS 65077 with that password.
  const lab = await NetLab.create('agentpeers');
  const dir = mkdtempSync(join(tmpdir(), 'bgpvs-agentpeers-'));
  t.after(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  await lab.addNs('r', { forwarding: true });
  await lab.addNs('n0', { forwarding: true });
  await lab.link('n0', 'eth0', 'r', 'eth0');
  await lab.addr('r', 'eth0', '10.0.0.1/24');
  await lab.addr('n0', 'eth0', '10.0.0.11/24');
  const frr = await FrrRouter.start({
    lab,
    ns: 'r',
    config: { asn: 64512, routerId: '10.0.0.1', neighbors: [{ address: '10.0.0.11', asn: 65077, password: 'tor-a-secret' }] },
  });
  t.after(() => frr.stop());
  const sock = join(dir, 'grpc.sock');
  spawnDaemon(['socat', `UNIX-LISTEN:${sock},fork,unlink-early`, 'TCP:127.0.0.1:50051'], { netns: lab.ns('n0') });
  await waitFor('grpc bridge', () => (existsSync(sock) ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
  const client = new GobgpClient({ target: `unix:${sock}`, protoDir: gobgpProtoDir() });
  const speaker = new GobgpSpeaker({ client, logger: silentLogger(), config: speakerCfg });
  const sup = new GobgpdSupervisor({
    speaker,
    client,
    logger: silentLogger(),
    gobgpd: { mode: 'child', binary: toolPath('gobgpd'), grpcPort: 50051, netns: lab.ns('n0'), target: `unix:${sock}`, logFile: join(dir, 'gobgpd.log') },
  });
  t.after(() => sup.kill());
  await sup.start();
  await waitFor('session with the password and the overridden ASN', async () => {
    const peers = await frr.bgpSummary();
    return peers.find((p) => p.address === '10.0.0.11' && p.state === 'Established' && p.remoteAs === 65077) ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 200 });
  await speaker.setAdvertisements([{ prefix: '10.100.0.7/32', family: 'IPv4', services: ['d/w'], communities: [], largeCommunities: [], localReadyEndpoints: 1, weighted: false }]);
  const routes = await waitFor('VIP in the router FIB', async () => {
    const r = await kernelRoutes(lab, 'r', '10.100.0.7/32');
    return r.length ? r : undefined;
  }, { timeoutMs: 20_000 });
  assert.deepEqual(routes[0]?.nexthops.map((n) => n.gateway), ['10.0.0.11']);
  // What gobgpd itself holds: the overrides, and only the peer this Node's labels select.
  const g = await client.getBgp();
  assert.deepEqual([g?.asn, g?.router_id], [65077, '10.9.9.9']);
  assert.deepEqual((await client.listPeer()).map((p) => [p.conf.neighbor_address, p.conf.auth_password]), [['10.0.0.1', 'tor-a-secret']]);
});
