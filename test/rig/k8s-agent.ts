/**
 * The IPAM controller as its own process (for the leader-election test and bench:k8s):
 *   node --import tsx test/rig/k8s-agent.ts KUBECONFIG IDENTITY [LEASE_MS]
 * (bench:k8s runs the compiled copy: node dist/bench-k8s/test/integration/k8s-agent.js ...)
 * SIGTERM stops it cleanly (lease released); SIGKILL is a crash.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { IpamController } from '../../src/agent/ipam-controller.js';
import { createLogger } from '../../src/observability/logger.js';

const [kubeconfig, identity, leaseArg] = process.argv.slice(2);
if (!kubeconfig || !identity) {
  console.error('usage: k8s-agent.ts KUBECONFIG IDENTITY [LEASE_MS]');
  process.exit(2);
}
const leaseMs = Number(leaseArg ?? 4_000);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const logger = createLogger({ level: process.env.BGPVS_LOG_LEVEL ?? 'info' });
const ctrl = new IpamController({
  kc,
  logger,
  identity,
  config: { loadBalancerClass: 'bgpvs.io/bgpvs', handleClasslessServices: true },
  lease: { durationMs: leaseMs, renewDeadlineMs: Math.floor(leaseMs * 0.66), retryPeriodMs: Math.max(200, Math.floor(leaseMs / 8)) },
});
await ctrl.start();
process.on('SIGTERM', () => {
  void ctrl.stop().then(() => process.exit(0));
});
