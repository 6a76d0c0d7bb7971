/**
 * spec.externalIPs are untrusted (issue 14 item 1): table of what bgpvs serves and refuses,
 * and the node plan serving only the accepted ones (refused ones neither programmed nor
 * announced; the owner of a LoadBalancer address keeps its virtual server).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { checkExternalIps, withCheckedExternalIps, type ExternalIpRefusal } from '../../src/desired/external-ips.js';
import { parseCidrRange } from '../../src/model/ip.js';
import { loadConfig } from '../../src/config/config.js';
import { planNode } from '../../src/agent/node-plan.js';
import type { ClusterSnapshot } from '../../src/model/snapshot.js';

const cidrs = (...c: string[]) => c.map((x) => parseCidrRange(x)!);
const t = (s: string) => `2026-01-01T00:00:${s}Z` as unknown as Date;

function svc(ns: string, name: string, o: { ext?: string[]; lb?: string[]; clusterIP?: string; ports?: number[]; created?: string; uid?: string; type?: string } = {}): V1Service {
  return {
    metadata: { namespace: ns, name, uid: o.uid ?? `${ns}-${name}`, creationTimestamp: t(o.created ?? '00') },
    spec: { type: o.type ?? 'ClusterIP', clusterIP: o.clusterIP ?? '10.96.0.10', ...(o.ext ? { externalIPs: o.ext } : {}), ports: (o.ports ?? [80]).map((port) => ({ name: `p${port}`, port, protocol: 'TCP' })) },
    status: { loadBalancer: { ingress: (o.lb ?? []).map((ip) => ({ ip })) } },
  };
}
const node = (name: string, ip: string): V1Node => ({ metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } });

const owner = svc('prod', 'web', { type: 'LoadBalancer', lb: ['192.0.2.10'], created: '01' });
const nodes = [node('node-a', '10.0.0.11')];
const pools = cidrs('192.0.2.0/24');
const allowed = cidrs('192.0.2.0/24', '198.51.100.0/24', '10.0.0.0/8');

describe('externalIPs: table', () => {
  const cases: { name: string; services: V1Service[]; allowed?: ReturnType<typeof cidrs>; want: Record<string, { accepted: string[]; refused: ExternalIpRefusal[] }> }[] = [
    { name: 'off by default: no allow-list serves none', services: [svc('t', 'a', { ext: ['198.51.100.5'] })], allowed: [], want: { 't/a': { accepted: [], refused: ['notAllowed'] } } },
    { name: 'inside the allow-list: served', services: [svc('t', 'a', { ext: ['198.51.100.5'] })], want: { 't/a': { accepted: ['198.51.100.5'], refused: [] } } },
    { name: 'outside the allow-list (8.8.8.8): refused', services: [svc('t', 'a', { ext: ['8.8.8.8', '198.51.100.5'] })], want: { 't/a': { accepted: ['198.51.100.5'], refused: ['notAllowed'] } } },
    { name: "another Service's LoadBalancer address (lab finding a): refused", services: [owner, svc('evil', 'grab', { ext: ['192.0.2.10'], created: '00' })], want: { 'evil/grab': { accepted: [], refused: ['loadBalancerIP'] } } },
    { name: 'its own LoadBalancer address: fine', services: [svc('prod', 'web', { type: 'LoadBalancer', lb: ['192.0.2.10'], ext: ['192.0.2.10'] })], want: { 'prod/web': { accepted: ['192.0.2.10'], refused: [] } } },
    { name: 'a free pool address: refused (the pool is IPAM\'s to hand out)', services: [svc('t', 'a', { ext: ['192.0.2.77'] })], want: { 't/a': { accepted: [], refused: ['poolAddress'] } } },
    { name: "a node's address: refused", services: [svc('t', 'a', { ext: ['10.0.0.11'] })], want: { 't/a': { accepted: [], refused: ['nodeAddress'] } } },
    { name: 'a ClusterIP: refused', services: [svc('kube-system', 'dns', { clusterIP: '10.96.0.53' }), svc('t', 'a', { ext: ['10.96.0.53'] })], want: { 't/a': { accepted: [], refused: ['clusterIP'] } } },
    { name: 'not an IP: refused, echoed bounded', services: [svc('t', 'a', { ext: ['x'.repeat(500)] })], want: { 't/a': { accepted: [], refused: ['invalidIP'] } } },
    { name: 'two Services, one port: the older keeps it', services: [svc('t', 'new', { ext: ['198.51.100.5'], created: '09' }), svc('u', 'old', { ext: ['198.51.100.5'], created: '01' })], want: { 't/new': { accepted: [], refused: ['portInUse'] }, 'u/old': { accepted: ['198.51.100.5'], refused: [] } } },
    { name: 'two Services, different ports: both', services: [svc('t', 'a', { ext: ['198.51.100.5'], ports: [80] }), svc('u', 'b', { ext: ['198.51.100.5'], ports: [443] })], want: { 't/a': { accepted: ['198.51.100.5'], refused: [] }, 'u/b': { accepted: ['198.51.100.5'], refused: [] } } },
    { name: 'same timestamp: the smaller uid is older', services: [svc('t', 'a', { ext: ['198.51.100.5'], uid: 'b' }), svc('u', 'b', { ext: ['198.51.100.5'], uid: 'a' })], want: { 't/a': { accepted: [], refused: ['portInUse'] }, 'u/b': { accepted: ['198.51.100.5'], refused: [] } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = checkExternalIps({ services: c.services, nodes, poolCidrs: pools, allowed: c.allowed ?? allowed });
      const got = Object.fromEntries([...v].map(([k, x]) => [k, { accepted: [...x.accepted], refused: x.refused.map((r) => r.reason) }]));
      assert.deepEqual(got, c.want);
      for (const x of v.values()) for (const r of x.refused) assert.ok(r.message.length < 300, r.message);
    });
  }

  it('the cut Service is memoised per object; an untouched one is passed through', () => {
    const a = svc('t', 'a', { ext: ['8.8.8.8', '198.51.100.5'] });
    const b = svc('t', 'b', { ext: ['198.51.100.6'] });
    const v = checkExternalIps({ services: [a, b], nodes, poolCidrs: pools, allowed });
    const memo = new WeakMap();
    const [a1, b1] = withCheckedExternalIps([a, b], v, memo);
    const [a2] = withCheckedExternalIps([a, b], v, memo);
    assert.deepEqual(a1?.spec?.externalIPs, ['198.51.100.5']);
    assert.equal(a1, a2, 'same copy on the next pass');
    assert.equal(b1, b);
    assert.deepEqual(a.spec?.externalIPs, ['8.8.8.8', '198.51.100.5'], 'the cached object is not changed');
  });
});

describe('externalIPs: the node plan', () => {
  const snapshot = (services: V1Service[]): ClusterSnapshot => ({
    services,
    endpointSlices: services.map((s) => ({
      metadata: { namespace: s.metadata?.namespace, name: `${s.metadata?.name}-1`, labels: { 'kubernetes.io/service-name': s.metadata?.name ?? '' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [s.metadata?.namespace === 'prod' ? '10.244.0.10' : '10.244.0.66'], conditions: { ready: true }, nodeName: 'node-a' }],
      ports: [{ name: 'p80', port: 8080, protocol: 'TCP' }],
    })),
    nodes: [{ ...nodes[0]!, status: { ...nodes[0]!.status, conditions: [{ type: 'Ready', status: 'True' }] } }],
    namespaces: [],
    pools: [{ metadata: { name: 'main' }, spec: { cidrs: ['192.0.2.0/24'] } }],
    peers: [],
  });
  const plan = (argv: string[], services: V1Service[]) =>
    planNode(loadConfig({ argv: ['--node-name=node-a', '--bgp.asn=65001', ...argv] }), '10.0.0.11', { snapshot: snapshot(services), secrets: new Map() });
  const grab = svc('evil', 'grab', { ext: ['192.0.2.10', '8.8.8.8', '198.51.100.5'] });

  it("a tenant's externalIPs never take an LB address or leave the allow-list; the owner's backends stay", () => {
    const p = plan(['--service.external-ip-cidrs=198.51.100.0/24,8.0.0.0/8'], [owner, grab]);
    const vips = p.virtualServers.map((v) => `${v.vip}:${v.port}=${v.realServers.map((b) => b.address).join(',')}`).sort();
    assert.deepEqual(vips, ['192.0.2.10:80=10.244.0.10', '198.51.100.5:80=10.244.0.66', '8.8.8.8:80=10.244.0.66']);
  });
  it('without an allow-list no externalIP is programmed or announced', () => {
    const p = plan([], [owner, grab]);
    assert.deepEqual(p.virtualServers.map((v) => v.vip), ['192.0.2.10']);
    assert.deepEqual(p.virtualServers[0]?.realServers.map((b) => b.address), ['10.244.0.10']);
    assert.ok(p.advertisements.every((a) => a.prefix === '192.0.2.10/32'), JSON.stringify(p.advertisements));
  });
  it('8.8.8.8 outside the allow-list: not programmed', () => {
    const p = plan(['--service.external-ip-cidrs=198.51.100.0/24'], [owner, grab]);
    assert.deepEqual(p.virtualServers.map((v) => v.vip).sort(), ['192.0.2.10', '198.51.100.5']);
    assert.deepEqual(p.virtualServers.find((v) => v.vip === '192.0.2.10')?.realServers.map((b) => b.address), ['10.244.0.10']);
    assert.ok(p.speaker.config.exportCidrs.includes('198.51.100.0/24'), 'allowed externalIPs can be announced');
  });
});
