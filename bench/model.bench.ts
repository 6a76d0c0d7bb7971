/**
 * Service model benchmark: one node's desired state for 10,000 Services × 10 endpoints over
 * 100 nodes, then one endpoint change. Prints figures; the last line is one JSON object.
 * Targets (issue 3): full build < 1000 ms, incremental < 20 ms, heap < 300 MB.
 */
import { isDeepStrictEqual } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { buildNodeDesiredState, ModelBuilder } from '../src/desired/builder.js';
import type { ServiceSnapshot as ClusterSnapshot } from '../src/model/snapshot.js';
import { modelConfig } from '../src/desired/config.js';

const SERVICES = 10_000;
const ENDPOINTS_PER_SERVICE = 10;
const NODES = 100;
const THIS_NODE = 'node-7';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ip4 = (base: number, i: number) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function nodeObj(i: number): V1Node {
  return { metadata: { name: `node-${i}`, labels: {} }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
}

function service(i: number): V1Service {
  return {
    metadata: { namespace: `ns-${i % 50}`, name: `svc-${i}`, resourceVersion: '1' },
    spec: {
      type: 'LoadBalancer',
      clusterIP: ip4(10, 0x600000 + i),
      clusterIPs: [ip4(10, 0x600000 + i)],
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      externalTrafficPolicy: i % 3 === 0 ? 'Local' : 'Cluster',
      ...(i % 10 === 0 ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } } : {}),
    },
    status: { loadBalancer: { ingress: [{ ip: ip4(172, 0x100000 + i) }] } },
  };
}

function endpointSlice(i: number, notReady = -1): V1EndpointSlice {
  return {
    metadata: { namespace: `ns-${i % 50}`, name: `svc-${i}-abcde`, labels: { 'kubernetes.io/service-name': `svc-${i}` }, resourceVersion: '1' },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) => ({
      addresses: [ip4(10, 0x10000 + i * ENDPOINTS_PER_SERVICE + j)],
      nodeName: `node-${(i * 7 + j * 13) % NODES}`,
      conditions: j === notReady ? { ready: false, serving: true, terminating: true } : { ready: true, serving: true, terminating: false },
    })),
  };
}

const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
const ms = (t: number) => Math.round(t * 100) / 100;

const t0 = performance.now();
const snapshot: ClusterSnapshot = {
  services: Array.from({ length: SERVICES }, (_, i) => service(i)),
  endpointSlices: Array.from({ length: SERVICES }, (_, i) => endpointSlice(i)),
  nodes: Array.from({ length: NODES }, (_, i) => nodeObj(i)),
};
const genMs = performance.now() - t0;
gc();
const heapInput = process.memoryUsage().heapUsed;

const cfg = modelConfig({ pools: [{ cidrs: ['172.16.0.0/12'], communities: ['65000:100'], largeCommunities: [], weightedEcmp: true }] });

// Full build, cold (first run in this process, JIT included).
let t = performance.now();
const builder = new ModelBuilder(cfg, THIS_NODE);
builder.sync(snapshot);
const full = builder.build();
const fullMs = performance.now() - t;

// One endpoint of one Service starts terminating: a new slice object, as an informer delivers it.
const changed = 4242;
const endpointSlices = [...snapshot.endpointSlices];
endpointSlices[changed] = endpointSlice(changed, 3);
const next: ClusterSnapshot = { ...snapshot, endpointSlices };
t = performance.now();
builder.sync(next); // scans all 10,000 Services and slices by identity, recomputes the one that changed
const inc = builder.build();
const incMs = performance.now() - t;
const recomputed = builder.lastRecomputed;

// The same change through the event API (what an informer handler would call).
const more: number[] = [];
for (let k = 0; k < 21; k++) {
  const s = endpointSlice(100 + k * 97, k % ENDPOINTS_PER_SERVICE);
  t = performance.now();
  builder.upsertEndpointSlice(s);
  builder.build();
  more.push(performance.now() - t);
}
more.sort((a, b) => a - b);

gc();
const heapAll = process.memoryUsage().heapUsed;

// Sanity (untimed): the incremental result equals a fresh build of the changed snapshot.
const fresh = buildNodeDesiredState(next, THIS_NODE, cfg);
const equal = isDeepStrictEqual(inc, fresh);

console.log(`generated ${SERVICES} Services, ${SERVICES * ENDPOINTS_PER_SERVICE} endpoints, ${NODES} nodes in ${ms(genMs)} ms (input heap ${mb(heapInput)} MB)`);
console.log(`full build (cold): ${ms(fullMs)} ms → ${full.virtualServers.length} virtual servers, ${full.advertisements.length} advertisements, ${full.decisions.length} decisions`);
console.log(`incremental, sync(snapshot) + build after one endpoint change: ${ms(incMs)} ms, ${recomputed} Service recomputed`);
console.log(`incremental, upsertEndpointSlice + build: median ${ms(more[10]!)} ms, max ${ms(more[20]!)} ms over 21 changes`);
console.log(`heap after GC with input, builder and state alive: ${mb(heapAll)} MB`);
console.log(`incremental state equals a fresh build: ${equal}`);
console.log(JSON.stringify({ services: SERVICES, endpoints: SERVICES * ENDPOINTS_PER_SERVICE, full_build_ms: ms(fullMs), incremental_ms: ms(incMs), heap_mb: mb(heapAll) }));
if (!equal) process.exitCode = 1;
