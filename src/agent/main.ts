/**
 * `bgpvs agent`: config → logger → clients → reconcilers → signals. Wiring only.
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import { loadConfig } from '../config/config.js';
import { run } from '../exec/run.js';
import { detectDataPlane } from '../dataplane/types.js';
import { createDataPlane } from '../dataplane/factory.js';
import { IpamController } from './ipam-controller.js';
import { IPPOOL_GROUP, IPPOOL_PLURAL, IPPOOL_VERSION, parsePools, type IPPoolObject } from '../ipam/pools.js';
import { createLogger } from '../observability/logger.js';
import { Agent, loadKubeConfig } from './agent.js';
import { modelPools } from './pools.js';

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

  // Pools are read once at start: a pool change takes an agent restart to reach BGP's export
  // policy and the model (see README, "Known limits").
  const list = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: IPPOOL_GROUP, version: IPPOOL_VERSION, plural: IPPOOL_PLURAL })) as { items?: IPPoolObject[] };
  const { pools, invalid } = parsePools(list.items ?? []);
  for (const p of invalid) logger.error({ pool: p.name, reason: p.reason }, 'IP pool ignored');

  const dp = await detectDataPlane({ run }, cfg.dataplane);
  const poolAttrs = modelPools(pools);
  // the agent (created below, with the Node and IPPool watches) tells the data plane where the
  // other nodes are and which pools exist now
  const late: { agent?: Agent } = {};
  const dataplane = createDataPlane(dp, {
    run, logger, nodeName: cfg.nodeName, poolCidrs: () => late.agent?.poolCidrs() ?? poolAttrs.flatMap((p) => p.cidrs), podNetns: cfg.podNetns,
    nftClusterMode: cfg.nft.clusterMode, nftMaglevSize: cfg.nft.maglevSize, ...(cfg.nodeAddress ? { nodeAddress: cfg.nodeAddress } : {}),
    nodeAddresses: () => late.agent?.nodeAddresses() ?? new Map<string, string[]>(),
  });
  logger.info({ dataplane: dp, requested: cfg.dataplane, ...(dp === 'ipvs' ? { podNetns: cfg.podNetns.kind } : { clusterMode: cfg.nft.clusterMode, maglevSize: cfg.nft.maglevSize }) }, 'data plane chosen');
  const agent = new Agent({ config: cfg, logger, dataplane, pools: poolAttrs, kubeConfig: kc });
  late.agent = agent;
  const ipam = cfg.ipam.enabled
    ? new IpamController({
        kc,
        logger,
        identity: cfg.nodeName,
        config: { loadBalancerClass: cfg.service.loadBalancerClass, handleClasslessServices: cfg.service.handleClasslessServices },
        staticPeers: cfg.bgp.peers,
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
  logger.info({ dataplane: dp, pools: pools.map((p) => p.name), ipam: !!ipam }, 'agent running');
  return new Promise<number>(() => undefined);
}
