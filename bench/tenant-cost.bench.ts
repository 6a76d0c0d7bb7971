/**
 * What one tenant's oversized Service costs a node (issue 14): one LoadBalancer Service with
 * BGPVS_BENCH_PORTS (1000) ports and one endpoint, plus one ordinary Service, through the
 * Service model and the nft data plane in a throwaway namespace — once with the default
 * per-Service caps (the big Service is refused) and once with the caps lifted (it is
 * programmed). Each case runs in its own process; it reports that process's peak RSS (the
 * agent's pass without the informers) and the peak RSS of the `nft -f` it ran (GNU time).
 * Env: BGPVS_BENCH_BUCKETS (251, the default --nft.maglev-size). Last line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { NetLab } from '../test/rig/netns.js';
import { run, type Runner } from '../src/exec/run.js';
import { silentLogger } from '../src/observability/logger.js';
import { NftDataPlane } from '../src/dataplane/nft/adapter.js';
import { buildNodeDesiredState } from '../src/desired/builder.js';
import { DEFAULT_SERVICE_LIMITS, modelConfig } from '../src/desired/config.js';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

const ports = Number(process.env.BGPVS_BENCH_PORTS ?? 1000);
const buckets = Number(process.env.BGPVS_BENCH_BUCKETS ?? 251);

async function oneCase(capped: boolean): Promise<void> {
  const lb = (name: string, ip: string, n: number): V1Service => ({
    metadata: { namespace: 'bench', name },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.1', ports: Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 1000 + i, targetPort: 8080, protocol: 'TCP' })) },
    status: { loadBalancer: { ingress: [{ ip }] } },
  });
  const sl = (name: string, n: number): V1EndpointSlice => ({
    metadata: { namespace: 'bench', name, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 8080, protocol: 'TCP' })),
    endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'node', conditions: { ready: true } }],
  });
  const limits = capped ? { ...DEFAULT_SERVICE_LIMITS, bucketsPerVirtualServer: buckets } : { maxPorts: 1e9, maxVirtualServers: 1e9, maxBuckets: 1e12, bucketsPerVirtualServer: buckets };
  const node = { metadata: { name: 'node' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
  const state = buildNodeDesiredState({ services: [lb('big', '192.0.2.66', ports), lb('web', '192.0.2.10', 1)], endpointSlices: [sl('big', ports), sl('web', 1)], nodes: [node] }, 'node', modelConfig({ limits }));
  let nftPeakKb = 0;
  // nft under GNU time: its peak RSS is the last stderr line
  const timed: Runner = async (argv, opts) => {
    if (argv[0] !== 'nft') return run(argv, opts);
    const r = await run(['/usr/bin/time', '-f', 'maxrss=%M', ...argv], { ...opts, allowFailure: true });
    const m = /maxrss=(\d+)\s*$/.exec(r.stderr);
    if (m) nftPeakKb = Math.max(nftPeakKb, Number(m[1]));
    if (r.exitCode !== 0 && !opts?.allowFailure) throw new Error(`nft failed: ${r.stderr.slice(0, 500)}`);
    return { ...r, stderr: r.stderr.replace(/maxrss=\d+\s*$/, '') };
  };
  const lab = await NetLab.create('tcost');
  try {
    await lab.addNs('node');
    const dp = new NftDataPlane({ run: timed, logger: silentLogger(), nodeName: 'node', netns: lab.ns('node'), buckets });
    const t0 = performance.now();
    const r = await dp.sync(state.virtualServers);
    const ms = Math.round(performance.now() - t0);
    const refused = state.decisions.filter((d) => d.reason?.startsWith('serviceTooLarge')).map((d) => d.service);
    console.log(JSON.stringify({ capped, virtualServers: state.virtualServers.length, refused, mode: r.mode, ms, agentPeakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), nftPeakRssMb: Math.round(nftPeakKb / 1024) }));
  } finally {
    await lab.destroy();
  }
}

const arg = process.argv[2];
if (arg === 'capped' || arg === 'uncapped') await oneCase(arg === 'capped');
else {
  const out: Record<string, unknown> = {};
  for (const c of ['capped', 'uncapped']) {
    const line = execFileSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, c], { encoding: 'utf8' }).trim().split('\n').pop()!;
    console.log(`${c}: ${line}`);
    out[c] = JSON.parse(line);
  }
  console.log(JSON.stringify({ bench: 'tenant-cost', ports, buckets, ...out }));
}
