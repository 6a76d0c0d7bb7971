/**
 * `bgpvs agent`: config → logger → one informer set → data plane → node agent (+ IP
 * allocation) → signals. Wiring only.
 */
import { loadConfig } from '../config/config.js';
import { run } from '../exec/run.js';
import { detectDataPlane } from '../dataplane/types.js';
import { createDataPlane } from '../dataplane/factory.js';
import { ClusterWatch } from '../k8s/informers.js';
import { createLogger } from '../observability/logger.js';
import { Agent, loadKubeConfig } from './agent.js';
import { IpamController } from './ipam-controller.js';
import { nodeModelConfig } from './node-plan.js';

export async function agentCommand(argv: readonly string[]): Promise<number> {
  let cfg;
  try {
    cfg = loadConfig({ argv, env: process.env });
  } catch (err) {
    console.error(`bgpvs agent: ${(err as Error).message}`);
    return 1;
  }
  const logger = createLogger({ level: cfg.logLevel, name: 'bgpvs-agent' }).child({ node: cfg.nodeName });
  const kc = loadKubeConfig(cfg.kubeconfig);
  // One list and watch per kind for the whole agent: the node pass and IP allocation share it.
  const informers = new ClusterWatch(kc, logger.child({ component: 'watch' }));

  const dp = await detectDataPlane({ run }, cfg.dataplane);
  const dataplane = createDataPlane(dp, {
    run, logger, nodeName: cfg.nodeName, podNetns: cfg.podNetns,
    nftClusterMode: cfg.nft.clusterMode, nftMaglevSize: cfg.nft.maglevSize, ...(cfg.nodeAddress ? { nodeAddress: cfg.nodeAddress } : {}),
  });
  logger.info({ dataplane: dp, requested: cfg.dataplane, ...(dp === 'ipvs' ? { podNetns: cfg.podNetns.kind } : { clusterMode: cfg.nft.clusterMode, maglevSize: cfg.nft.maglevSize }) }, 'data plane chosen');
  const agent = new Agent({ config: cfg, logger, dataplane, kubeConfig: kc, informers });
  const ipam = cfg.ipam.enabled
    ? new IpamController({
        kc,
        informers,
        logger,
        identity: cfg.nodeName,
        config: { loadBalancerClass: cfg.service.loadBalancerClass, handleClasslessServices: cfg.service.handleClasslessServices },
        poolRules: { minPrefixLength: cfg.ipam.poolMinPrefixLength },
        externalIpCidrs: cfg.service.externalIpCidrs,
        staticPeers: cfg.bgp.peers,
        serviceLimits: nodeModelConfig(cfg),
        lease: { namespace: cfg.ipam.leaseNamespace, name: cfg.ipam.leaseName, durationMs: cfg.ipam.leaseDurationMs, renewDeadlineMs: cfg.ipam.renewDeadlineMs, retryPeriodMs: cfg.ipam.retryPeriodMs },
      })
    : undefined;

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: sig }, 'stopping');
    await ipam?.stop().catch((err: unknown) => logger.error({ err }, 'stopping IP allocation'));
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await agent.start();
  await ipam?.start();
  logger.info({ dataplane: dp, ipam: !!ipam }, 'agent running');
  return new Promise<number>(() => undefined);
}
