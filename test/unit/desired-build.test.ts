/** The Service model's rules, one table row each: cluster objects in, one node's desired state out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { buildNodeDesiredState } from '../../src/desired/builder.js';
import { modelConfig, type ModelConfig } from '../../src/desired/config.js';
import type { NodeDesiredState } from '../../src/model/types.js';
import { node, renderAds, renderDecisions, renderVs, slice, svc } from './desired-fixtures.js';

interface Row {
  name: string;
  services: V1Service[];
  slices?: V1EndpointSlice[];
  nodes?: V1Node[];
  nodeName?: string;
  cfg?: Partial<ModelConfig>;
  vs?: string[];
  ads?: string[];
  decisions?: string[];
  check?: (s: NodeDesiredState) => void;
}

const two = ['10.0.0.1@n1', '10.0.0.2@n2'];
const OURS = 'bgpvs.io/bgpvs';
const rows: Row[] = [
  // Which IPs
  {
    name: 'LoadBalancer ingress IP, Cluster policy: all ready endpoints, advertised',
    services: [svc('web')],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
    ads: ['192.0.2.10/32 default/web lre=1'],
    decisions: ['default/web 192.0.2.10: advertised'],
  },
  {
    name: 'externalIPs are advertised on a ClusterIP Service; its ClusterIP is not (flag off)',
    services: [svc('web', { type: 'ClusterIP', ingress: [], externalIPs: ['198.51.100.7'] })],
    slices: [slice('web', two)],
    ads: ['198.51.100.7/32 default/web lre=1'],
    decisions: ['default/web 198.51.100.7: advertised'],
  },
  {
    name: 'externalIPs ignored when advertiseExternalIPs is off',
    services: [svc('web', { type: 'ClusterIP', ingress: [], externalIPs: ['198.51.100.7'] })],
    slices: [slice('web', two)],
    cfg: { advertiseExternalIPs: false },
    vs: [],
    ads: [],
    decisions: ['default/web -: notLoadBalancer'],
  },
  {
    name: 'ClusterIPs advertised when the global flag is on',
    services: [svc('web', { type: 'ClusterIP', ingress: [] })],
    slices: [slice('web', two)],
    cfg: { advertiseClusterIPs: true },
    ads: ['10.96.0.10/32 default/web lre=1'],
  },
  {
    name: 'ClusterIP advertised by annotation with the flag off',
    services: [svc('web', { type: 'ClusterIP', ingress: [], annotations: { 'bgpvs.io/advertise-cluster-ip': 'true' } })],
    slices: [slice('web', two)],
    ads: ['10.96.0.10/32 default/web lre=1'],
  },
  {
    name: 'annotation "false" turns ClusterIP advertising off for one Service',
    services: [svc('web', { type: 'ClusterIP', ingress: [], annotations: { 'bgpvs.io/advertise-cluster-ip': 'false' } })],
    slices: [slice('web', two)],
    cfg: { advertiseClusterIPs: true },
    ads: [],
    decisions: ['default/web -: notLoadBalancer'],
  },
  {
    name: 'LoadBalancer plus ClusterIP: both IPs, each its own virtual server',
    services: [svc('web')],
    slices: [slice('web', two)],
    cfg: { advertiseClusterIPs: true },
    ads: ['10.96.0.10/32 default/web lre=1', '192.0.2.10/32 default/web lre=1'],
    decisions: ['default/web 10.96.0.10: advertised', 'default/web 192.0.2.10: advertised'],
  },
  {
    name: 'headless Service skipped',
    services: [svc('db', { type: 'ClusterIP', clusterIP: 'None', ingress: [] })],
    cfg: { advertiseClusterIPs: true },
    vs: [],
    decisions: ['default/db -: headless'],
  },
  {
    name: 'ExternalName Service skipped',
    services: [svc('ext', { type: 'ExternalName', ingress: [] })],
    decisions: ['default/ext -: externalName'],
  },
  {
    name: 'LoadBalancer without an ingress IP yet',
    services: [svc('web', { ingress: [] })],
    slices: [slice('web', two)],
    decisions: ['default/web -: noIngressIP'],
  },
  {
    name: 'unparsable ingress IP reported, the valid one still served',
    services: [svc('web', { ingress: ['10.0.0.300', '192.0.2.10'] })],
    slices: [slice('web', two)],
    decisions: ['default/web 10.0.0.300: invalidIP', 'default/web 192.0.2.10: advertised'],
  },
  {
    name: 'an IP listed as both ingress and externalIP is one IP; IPv4-mapped IPv6 is rejected',
    services: [svc('web', { ingress: ['192.0.2.10', '::ffff:192.0.2.11'], externalIPs: ['192.0.2.10'] })],
    slices: [slice('web', two)],
    decisions: ['default/web 192.0.2.10: advertised', 'default/web ::ffff:192.0.2.11: invalidIP'],
  },
  // loadBalancerClass
  {
    name: 'another loadBalancerClass is not ours',
    services: [svc('web', { cls: 'metallb.io/metallb' })],
    slices: [slice('web', two)],
    vs: [],
    ads: [],
    decisions: ['default/web 192.0.2.10: notOurClass'],
  },
  {
    name: 'our loadBalancerClass is served',
    services: [svc('web', { cls: OURS })],
    slices: [slice('web', two)],
    decisions: ['default/web 192.0.2.10: advertised'],
  },
  {
    name: 'a configured class name is honoured',
    services: [svc('a', { cls: 'example.com/lb' }), svc('b', { cls: OURS, ingress: ['192.0.2.11'] })],
    slices: [slice('a', two), slice('b', two)],
    cfg: { loadBalancerClass: 'example.com/lb' },
    decisions: ['default/a 192.0.2.10: advertised', 'default/b 192.0.2.11: notOurClass'],
  },
  {
    name: 'class-less Services served when the flag says so',
    services: [svc('web')],
    slices: [slice('web', two)],
    cfg: { handleClasslessServices: true },
    decisions: ['default/web 192.0.2.10: advertised'],
  },
  {
    name: 'class-less Services skipped when the flag says so',
    services: [svc('web')],
    slices: [slice('web', two)],
    cfg: { handleClasslessServices: false },
    decisions: ['default/web 192.0.2.10: notOurClass'],
  },
  {
    name: 'another class with an invalid bgpvs annotation is reported as notOurClass, not judged',
    services: [svc('web', { cls: 'x/y', annotations: { 'bgpvs.io/scheduler': 'nope' } })],
    decisions: ['default/web -: notOurClass'],
  },
  // traffic policies
  {
    name: 'externalTrafficPolicy Local: only local endpoints, advertised',
    services: [svc('web', { etp: 'Local' })],
    slices: [slice('web', ['10.0.0.1@n1', '10.0.0.3@n1', '10.0.0.2@n2'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.3:80w1'],
    ads: ['192.0.2.10/32 default/web lre=2'],
  },
  {
    name: 'externalTrafficPolicy Local without local endpoints: nothing programmed, not advertised',
    services: [svc('web', { etp: 'Local' })],
    slices: [slice('web', ['10.0.0.2@n2'])],
    vs: [],
    ads: [],
    decisions: ['default/web 192.0.2.10: noLocalReadyEndpoints'],
  },
  {
    name: 'externalTrafficPolicy Local with a not-ready local endpoint only: not advertised',
    services: [svc('web', { etp: 'Local' })],
    slices: [slice('web', ['10.0.0.1@n1!n', '10.0.0.2@n2'])],
    vs: [],
    decisions: ['default/web 192.0.2.10: noLocalReadyEndpoints'],
  },
  {
    name: 'externalTrafficPolicy Local with only a serving-terminating local endpoint: drains, withdrawn',
    services: [svc('web', { etp: 'Local' })],
    slices: [slice('web', ['10.0.0.1@n1!t', '10.0.0.2@n2'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1t'],
    ads: [],
    decisions: ['default/web 192.0.2.10: noLocalReadyEndpoints'],
  },
  {
    name: 'Cluster policy on a node with no endpoint of its own still advertises',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.2@n2'])],
    ads: ['192.0.2.10/32 default/web lre=0'],
  },
  {
    name: 'Cluster policy with no usable endpoint anywhere: not advertised',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.1@n1!n', '10.0.0.2@n2!T'])],
    vs: [],
    ads: [],
    decisions: ['default/web 192.0.2.10: noReadyEndpoints'],
  },
  {
    name: 'Service without any EndpointSlice: noReadyEndpoints',
    services: [svc('web')],
    decisions: ['default/web 192.0.2.10: noReadyEndpoints'],
  },
  {
    name: 'terminating endpoints drain at weight 0 while others are ready; not-serving and not-ready ones are dropped',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.1@n1', '10.0.0.2@n2!t', '10.0.0.3@n2!T', '10.0.0.4@n2!n'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w0t'],
  },
  {
    name: 'no ready endpoint: serving-terminating ones carry traffic (kube-proxy fallback)',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.1@n1!t', '10.0.0.2@n2!t', '10.0.0.3@n2!T'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1t,10.0.0.2:80w1t'],
    decisions: ['default/web 192.0.2.10: advertised'],
  },
  {
    name: 'endpoints without conditions count as ready (API default)',
    services: [svc('web')],
    slices: [slice('web', [{ ip: '10.0.0.1', node: 'n2' }])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1'],
  },
  {
    name: 'internalTrafficPolicy Local governs ClusterIPs; externalTrafficPolicy Cluster the LB IP',
    services: [svc('web', { itp: 'Local' })],
    slices: [slice('web', two)],
    cfg: { advertiseClusterIPs: true },
    vs: ['10.96.0.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1', '192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
    ads: ['10.96.0.10/32 default/web lre=1', '192.0.2.10/32 default/web lre=1'],
  },
  {
    name: 'externalIPs follow externalTrafficPolicy Local; the ClusterIP internalTrafficPolicy Cluster',
    services: [svc('web', { type: 'ClusterIP', ingress: [], externalIPs: ['198.51.100.7'], etp: 'Local' })],
    slices: [slice('web', two)],
    cfg: { advertiseClusterIPs: true },
    vs: ['10.96.0.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1', '198.51.100.7 TCP/80 rr nat p0 -> 10.0.0.1:80w1'],
  },
  {
    name: 'externalIPs with externalTrafficPolicy Local and no local endpoint: not advertised',
    services: [svc('web', { type: 'ClusterIP', ingress: [], externalIPs: ['198.51.100.7'], etp: 'Local' })],
    slices: [slice('web', ['10.0.0.2@n2'])],
    decisions: ['default/web 198.51.100.7: noLocalReadyEndpoints'],
  },
  {
    name: 'internalTrafficPolicy Local without a local endpoint: ClusterIP not advertised',
    services: [svc('web', { type: 'ClusterIP', ingress: [], itp: 'Local' })],
    slices: [slice('web', ['10.0.0.2@n2'])],
    cfg: { advertiseClusterIPs: true },
    decisions: ['default/web 10.96.0.10: noLocalReadyEndpoints'],
  },
  {
    name: 'the same endpoint in two slices is one real server, in its best state',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.1@n1!t'], { name: 'web-a' }), slice('web', ['10.0.0.1@n1'], { name: 'web-b' })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1'],
  },
  {
    name: 'FQDN slices and slices of other Services are ignored',
    services: [svc('web')],
    slices: [slice('web', ['10.0.0.1@n1']), slice('web', ['db.example'], { family: 'FQDN' }), slice('other', ['10.0.0.9@n1'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1'],
  },
  // session affinity
  {
    name: 'sessionAffinity ClientIP with a timeout → persistence',
    services: [svc('web', { affinity: 600 })],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 rr nat p600 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  {
    name: 'sessionAffinity ClientIP without a timeout → Kubernetes default 10800 s',
    services: [svc('web', { affinity: 'default' })],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 rr nat p10800 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  // annotations
  {
    name: 'scheduler annotation with flags',
    services: [svc('web', { annotations: { 'bgpvs.io/scheduler': 'mh', 'bgpvs.io/scheduler-flags': 'mh-port, mh-fallback' } })],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 mh[mh-fallback,mh-port] nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  ...(['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh'] as const).map((sched): Row => ({
    name: `scheduler annotation ${sched} overrides the configured default`,
    services: [svc('web', { annotations: { 'bgpvs.io/scheduler': sched } })],
    slices: [slice('web', two)],
    cfg: { defaultScheduler: sched === 'sh' ? 'rr' : 'sh' },
    vs: [`192.0.2.10 TCP/80 ${sched} nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1`],
  })),
  ...(['tunnel', 'dr', 'nat'] as const).map((fwd): Row => ({
    name: `forwarding annotation ${fwd} overrides the configured default (port equals targetPort)`,
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': fwd } })],
    slices: [slice('web', two)],
    cfg: { defaultForwarding: fwd === 'nat' ? 'dr' : 'nat' },
    vs: [`192.0.2.10 TCP/80 rr ${fwd} p0 -> 10.0.0.1:80w1,10.0.0.2:80w1`],
  })),
  {
    name: 'scheduler flags alone apply to the configured default scheduler, deduplicated',
    services: [svc('web', { annotations: { 'bgpvs.io/scheduler-flags': 'mh-port,mh-port' } })],
    slices: [slice('web', two)],
    cfg: { defaultScheduler: 'mh' },
    vs: ['192.0.2.10 TCP/80 mh[mh-port] nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  {
    name: 'default scheduler and forwarding come from config',
    services: [svc('web')],
    slices: [slice('web', two)],
    cfg: { defaultScheduler: 'sh', defaultSchedulerFlags: ['sh-port'], defaultForwarding: 'tunnel' },
    vs: ['192.0.2.10 TCP/80 sh[sh-port] tunnel p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  {
    name: 'invalid scheduler skips only that Service, with the reason',
    services: [svc('bad', { annotations: { 'bgpvs.io/scheduler': 'fastest' } }), svc('good', { ingress: ['192.0.2.11'] })],
    slices: [slice('bad', two), slice('good', two)],
    ads: ['192.0.2.11/32 default/good lre=1'],
    decisions: [
      'default/bad 192.0.2.10: invalidAnnotation: bgpvs.io/scheduler: "fastest" is not one of rr, wrr, lc, wlc, sh, mh',
      'default/good 192.0.2.11: advertised',
    ],
  },
  {
    name: 'scheduler flags the scheduler does not take',
    services: [svc('web', { annotations: { 'bgpvs.io/scheduler': 'wrr', 'bgpvs.io/scheduler-flags': 'mh-port' } })],
    slices: [slice('web', two)],
    vs: [],
    decisions: ['default/web 192.0.2.10: invalidAnnotation: bgpvs.io/scheduler-flags: scheduler wrr takes no flags'],
  },
  {
    name: 'unknown scheduler flag',
    services: [svc('web', { annotations: { 'bgpvs.io/scheduler': 'sh', 'bgpvs.io/scheduler-flags': 'sh-port,mh-port' } })],
    decisions: ['default/web 192.0.2.10: invalidAnnotation: bgpvs.io/scheduler-flags: "mh-port" is not one of sh-fallback, sh-port'],
  },
  {
    name: 'invalid forwarding method',
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': 'DSR' } })],
    decisions: ['default/web 192.0.2.10: invalidAnnotation: bgpvs.io/forwarding: "DSR" is not one of tunnel, dr, nat'],
  },
  {
    name: 'invalid advertise-cluster-ip value is reported even on a ClusterIP Service',
    services: [svc('web', { type: 'ClusterIP', ingress: [], annotations: { 'bgpvs.io/advertise-cluster-ip': 'yes' } })],
    decisions: ['default/web -: invalidAnnotation: bgpvs.io/advertise-cluster-ip: "yes" is not "true" or "false"'],
  },
  // forwarding and ports
  {
    name: 'direct routing when port equals targetPort',
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': 'dr' } })],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 rr dr p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  {
    name: 'tunnel cannot remap 80 → 8080: falls back to nat with a note',
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': 'tunnel' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] })],
    slices: [slice('web', two, { ports: [{ name: 'http', port: 8080 }] })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:8080w1,10.0.0.2:8080w1'],
    check: (s) => assert.deepEqual(s.decisions[0]?.notes, ['dsrPortRemap: tunnel cannot remap ports (TCP/80 → 8080); forwarding nat']),
  },
  {
    name: 'named targetPort resolves through the slice ports (by Service port name)',
    services: [svc('web', { ports: [{ name: 'http', port: 80, targetPort: 'web' }] })],
    slices: [slice('web', two, { ports: [{ name: 'http', port: 8080 }] })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:8080w1,10.0.0.2:8080w1'],
  },
  {
    name: 'named targetPort resolving to the same port keeps DSR',
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': 'dr' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] })],
    slices: [slice('web', two, { ports: [{ name: 'http', port: 80 }] })],
    vs: ['192.0.2.10 TCP/80 rr dr p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  {
    name: 'named targetPort resolving differently per slice: DSR falls back to nat',
    services: [svc('web', { annotations: { 'bgpvs.io/forwarding': 'dr' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] })],
    slices: [
      slice('web', ['10.0.0.1@n1'], { name: 'a', ports: [{ name: 'http', port: 80 }] }),
      slice('web', ['10.0.0.2@n2'], { name: 'b', ports: [{ name: 'http', port: 8080 }] }),
    ],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:8080w1'],
  },
  {
    name: 'TCP, UDP and SCTP ports, each its own virtual server',
    services: [
      svc('dns', {
        ports: [
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'sig', port: 2905, protocol: 'SCTP' },
        ],
      }),
    ],
    slices: [
      slice('dns', ['10.0.0.1@n1'], {
        ports: [
          { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
          { name: 'dns-udp', port: 5353, protocol: 'UDP' },
          { name: 'sig', port: 2905, protocol: 'SCTP' },
        ],
      }),
    ],
    vs: [
      '192.0.2.10 SCTP/2905 rr nat p0 -> 10.0.0.1:2905w1',
      '192.0.2.10 TCP/53 rr nat p0 -> 10.0.0.1:5353w1',
      '192.0.2.10 UDP/53 rr nat p0 -> 10.0.0.1:5353w1',
    ],
  },
  {
    name: 'a port whose slice lacks it gets no virtual server',
    services: [svc('web', { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] })],
    slices: [slice('web', two)],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
  },
  // shared VIPs
  {
    name: 'shared VIP: two Services, different ports, one advertisement carrying both',
    services: [svc('a', { ports: [{ name: 'http', port: 80 }] }), svc('b', { ports: [{ name: 'https', port: 443 }] })],
    slices: [slice('a', ['10.0.0.1@n1']), slice('b', ['10.0.0.2@n1'], { ports: [{ name: 'https', port: 443 }] })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1', '192.0.2.10 TCP/443 rr nat p0 -> 10.0.0.2:443w1'],
    ads: ['192.0.2.10/32 default/a,default/b lre=2'],
  },
  {
    name: 'shared VIP stays advertised while one user still wants it',
    services: [svc('a', { etp: 'Local' }), svc('b', { ports: [{ name: 'https', port: 443 }] })],
    slices: [slice('a', ['10.0.0.9@n2']), slice('b', ['10.0.0.2@n2'], { ports: [{ name: 'https', port: 443 }] })],
    ads: ['192.0.2.10/32 default/b lre=0'],
    decisions: ['default/a 192.0.2.10: noLocalReadyEndpoints', 'default/b 192.0.2.10: advertised'],
  },
  {
    name: 'two Services on the same VIP and port: the first by name serves it, the other gets a note',
    services: [svc('b'), svc('a')],
    slices: [slice('a', ['10.0.0.1@n1']), slice('b', ['10.0.0.2@n1'])],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1'],
    check: (s) => {
      const b = s.decisions.find((d) => d.service === 'default/b');
      assert.deepEqual(b?.notes, ['portConflict: TCP/80 on 192.0.2.10 is served for default/a']);
      assert.deepEqual(s.virtualServers[0]?.services, ['default/a']);
    },
  },
  // dual-stack
  {
    name: 'dual-stack: IPv4 VIP gets IPv4 endpoints, IPv6 VIP IPv6 ones; IPv6 canonical',
    services: [svc('web', { ipFamilies: ['IPv4', 'IPv6'], ingress: ['192.0.2.10', '2001:DB8:0:0::10'] })],
    slices: [slice('web', two), slice('web', ['fd00::0:1@n1', 'FD00::2@n2'], { family: 'IPv6' })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1', '2001:db8::10 TCP/80 rr nat p0 -> fd00::1:80w1,fd00::2:80w1'],
    ads: ['192.0.2.10/32 default/web lre=1', '2001:db8::10/128 default/web lre=1'],
    check: (s) => assert.deepEqual(s.advertisements.map((a) => a.family), ['IPv4', 'IPv6']),
  },
  {
    name: 'dual-stack ClusterIPs advertised per family',
    services: [svc('web', { type: 'ClusterIP', ingress: [], clusterIPs: ['10.96.0.10', 'fd96::10'] })],
    slices: [slice('web', two), slice('web', ['fd00::1@n1'], { family: 'IPv6' })],
    cfg: { advertiseClusterIPs: true },
    ads: ['10.96.0.10/32 default/web lre=1', 'fd96::10/128 default/web lre=1'],
  },
  {
    name: 'single-stack IPv6: /128 for the ingress IP and the ClusterIP',
    services: [svc('web', { ipFamilies: ['IPv6'], clusterIPs: ['fd96::10'], ingress: ['2001:db8::10'] })],
    slices: [slice('web', ['fd00::1@n1', 'fd00::2@n2'], { family: 'IPv6' })],
    cfg: { advertiseClusterIPs: true },
    vs: ['2001:db8::10 TCP/80 rr nat p0 -> fd00::1:80w1,fd00::2:80w1', 'fd96::10 TCP/80 rr nat p0 -> fd00::1:80w1,fd00::2:80w1'],
    ads: ['2001:db8::10/128 default/web lre=1', 'fd96::10/128 default/web lre=1'],
  },
  {
    name: 'IPv6 VIP with only IPv4 endpoints: noReadyEndpoints for it',
    services: [svc('web', { ingress: ['192.0.2.10', '2001:db8::10'] })],
    slices: [slice('web', two)],
    decisions: ['default/web 192.0.2.10: advertised', 'default/web 2001:db8::10: noReadyEndpoints'],
  },
  // node eligibility
  {
    name: 'NotReady node advertises nothing (virtual servers stay to drain)',
    services: [svc('web')],
    slices: [slice('web', two)],
    nodes: [node('n1', { ready: false })],
    vs: ['192.0.2.10 TCP/80 rr nat p0 -> 10.0.0.1:80w1,10.0.0.2:80w1'],
    ads: [],
    decisions: ['default/web 192.0.2.10: nodeNotEligible'],
  },
  {
    name: 'node labelled exclude-from-external-load-balancers advertises nothing',
    services: [svc('web')],
    slices: [slice('web', two)],
    nodes: [node('n1', { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } })],
    ads: [],
    decisions: ['default/web 192.0.2.10: nodeNotEligible'],
  },
  {
    name: 'node not matching the node selector advertises nothing',
    services: [svc('web')],
    slices: [slice('web', two)],
    nodes: [node('n1', { labels: { role: 'worker' } })],
    cfg: { nodeSelector: { matchLabels: { role: 'edge' } } },
    ads: [],
  },
  {
    name: 'node matching the node selector (labels and expressions) advertises',
    services: [svc('web')],
    slices: [slice('web', two)],
    nodes: [node('n1', { labels: { role: 'edge', zone: 'a' } })],
    cfg: { nodeSelector: { matchLabels: { role: 'edge' }, matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] } },
    ads: ['192.0.2.10/32 default/web lre=1'],
  },
  {
    name: 'missing Node object: not eligible',
    services: [svc('web')],
    slices: [slice('web', two)],
    nodes: [node('n2')],
    decisions: ['default/web 192.0.2.10: nodeNotEligible'],
  },
  // BGP attributes from pools
  {
    name: 'pool attributes by most specific CIDR; weighted only for Local policy',
    services: [svc('a', { etp: 'Local' }), svc('b', { ingress: ['192.0.2.200'] }), svc('c', { ingress: ['203.0.113.1'] })],
    slices: [slice('a', two), slice('b', two), slice('c', two)],
    cfg: {
      pools: [
        { cidrs: ['192.0.2.0/24'], communities: ['65000:2', '65000:1'], largeCommunities: [], localPref: 100, weightedEcmp: true },
        { cidrs: ['192.0.2.192/26', '2001:db8::/64'], communities: ['65000:9'], largeCommunities: ['65000:1:2'], weightedEcmp: true },
      ],
    },
    ads: ['192.0.2.10/32 default/a lre=1 w', '192.0.2.200/32 default/b lre=1', '203.0.113.1/32 default/c lre=1'],
    check: (s) => {
      const [a, b, c] = s.advertisements;
      assert.deepEqual([a?.communities, a?.localPref], [['65000:1', '65000:2'], 100]);
      assert.deepEqual([b?.communities, b?.largeCommunities, b?.localPref], [['65000:9'], ['65000:1:2'], undefined]);
      assert.deepEqual([c?.communities, c?.largeCommunities], [[], []]);
    },
  },
];

for (const r of rows) {
  test(`desired: ${r.name}`, () => {
    const s = buildNodeDesiredState(
      { services: r.services, endpointSlices: r.slices ?? [], nodes: r.nodes ?? [node('n1'), node('n2')] },
      r.nodeName ?? 'n1',
      modelConfig(r.cfg),
    );
    if (r.vs) assert.deepEqual(renderVs(s), r.vs);
    if (r.ads) assert.deepEqual(renderAds(s), r.ads);
    if (r.decisions) assert.deepEqual(renderDecisions(s), r.decisions);
    r.check?.(s);
  });
}

// The rule behind every invalidAnnotation row: a bad value costs only its own Service, and
// nothing a user can put in a Service (annotations, ports, policies, addresses) throws.
const annotationValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', ' rr ', 'mh', 'sh', 'wlc', 'mh-port,mh-fallback', 'sh-port', 'dr', 'tunnel', 'nat', 'true', 'false'));
const anyService = fc
  .record(
    {
      type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const, 'ExternalName' as const),
      cls: fc.constantFrom(OURS, 'x/y'),
      ingress: fc.array(fc.constantFrom('192.0.2.10', '192.0.2.11', '2001:db8::10', '10.0.0.300', 'junk', ''), { maxLength: 2 }),
      clusterIP: fc.constantFrom('10.96.0.10', 'None', 'fd96::10'),
      etp: fc.constantFrom('Local' as const, 'Cluster' as const),
      itp: fc.constantFrom('Local' as const, 'Cluster' as const),
      affinity: fc.oneof(fc.constant('default' as const), fc.integer({ min: 0, max: 86400 })),
      ports: fc.array(
        fc.record({
          name: fc.constantFrom('http', 'dns', ''),
          port: fc.constantFrom(53, 80),
          targetPort: fc.oneof(fc.constantFrom(53, 80, 8080), fc.constantFrom('web', 'http')),
          protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', 'ICMP'),
        }),
        { maxLength: 3 },
      ),
      annotations: fc.dictionary(
        fc.constantFrom('bgpvs.io/scheduler', 'bgpvs.io/scheduler-flags', 'bgpvs.io/forwarding', 'bgpvs.io/advertise-cluster-ip'),
        annotationValue,
      ),
    },
    { requiredKeys: ['type', 'ingress', 'clusterIP', 'ports', 'annotations'] },
  );

test('desired: no Service input throws, and a bad one never costs another Service its advertisement', () => {
  const good = svc('zz-good', { clusterIP: '10.96.0.250', ingress: ['198.51.100.250'] });
  fc.assert(
    fc.property(fc.array(anyService, { maxLength: 4 }), fc.boolean(), (opts, clusterIPs) => {
      const services = opts.map((o, i) => svc(`s${i}`, o));
      const slices = opts.map((_, i) =>
        slice(`s${i}`, ['10.0.0.1@n1', '10.0.0.2@n2!t'], { ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
      );
      const s = buildNodeDesiredState(
        { services: [...services, good], endpointSlices: [...slices, slice('zz-good', two)], nodes: [node('n1')] },
        'n1',
        modelConfig({ advertiseClusterIPs: clusterIPs }),
      );
      assert.deepEqual(
        s.decisions.filter((d) => d.service === 'default/zz-good').map((d) => `${d.ip}: ${d.advertised}`),
        ['198.51.100.250: true', ...(clusterIPs ? ['10.96.0.250: true'] : [])].sort(),
      );
      for (const [i, o] of opts.entries()) {
        const mine = s.decisions.filter((d) => d.service === `default/s${i}`);
        assert.ok(mine.length > 0, `s${i} has no decision`);
        if (mine.some((d) => d.reason?.startsWith('invalidAnnotation: '))) assert.ok(Object.keys(o.annotations).length > 0);
      }
    }),
    { numRuns: 300, seed: 3 },
  );
});
