import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

const FILE = `
node-address: 10.0.0.11
bgp:
  asn: 65001
  gobgpd: child:50052
  graceful-shutdown: 5s
  peers:
    - address: 10.0.0.1
      asn: 64512
      bfd: {minRxMs: 100, minTxMs: 100, multiplier: 3}
      holdTimeSeconds: 9
    - address: 10.0.0.2
      asn: 64512
      port: 1179
      sourceAddress: 10.0.0.111
      gracefulRestart: {enabled: true, restartTimeSeconds: 90}
      families: [ipv6-unicast]
    - address: 10.0.0.3
      asn: 64512
      gracefulRestart: {enabled: true}
      families: [ipv4-unicast, ipv6-unicast]
  export-cidrs: [10.96.0.0/16]
service:
  load-balancer-class: example.com/lb
dataplane: nft
`;
const files = { '/etc/bgpvs/config.yaml': FILE };
const readFile = (p: string) => {
  const t = (files as Record<string, string>)[p];
  if (t === undefined) throw new Error('ENOENT');
  return t;
};

test('config: file values, defaults, and flag > env > file precedence', () => {
  const c = loadConfig({
    argv: ['--config=/etc/bgpvs/config.yaml', '--dataplane', 'ipvs'],
    env: { NODE_NAME: 'node1', BGPVS_DATAPLANE: 'auto', BGPVS_LOG_LEVEL: 'debug' },
    readFile,
  });
  assert.equal(c.nodeName, 'node1');
  assert.equal(c.nodeAddress, '10.0.0.11');
  assert.equal(c.dataplane, 'ipvs', 'flag beats env and file');
  assert.equal(c.logLevel, 'debug', 'env beats default');
  assert.equal(c.bgp.asn, 65001);
  assert.deepEqual(c.bgp.gobgpd, { mode: 'child', grpcPort: 50052 });
  assert.equal(c.bgp.listenPort, -1, 'never listens on 179 by default');
  assert.equal(c.bgp.gracefulShutdownMs, 5000);
  assert.deepEqual(c.bgp.peers, [
    { address: '10.0.0.1', asn: 64512, port: 179, holdTimeSeconds: 9, bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
    { address: '10.0.0.2', asn: 64512, port: 1179, sourceAddress: '10.0.0.111', gracefulRestart: { restartTimeSeconds: 90, helperOnly: true }, families: ['IPv6'] },
    { address: '10.0.0.3', asn: 64512, port: 179, gracefulRestart: { restartTimeSeconds: 120, helperOnly: true }, families: ['IPv4', 'IPv6'] },
  ]);
  assert.deepEqual(c.bgp.exportCidrs, ['10.96.0.0/16']);
  assert.equal(c.service.loadBalancerClass, 'example.com/lb');
  assert.equal(c.service.handleClasslessServices, true);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.bgp.peers[0]));
});

test('config: an external gobgpd sidecar', () => {
  const c = loadConfig({ argv: ['--node-name=n', '--bgp.asn=65001', '--bgp.gobgpd=127.0.0.1:50051'] });
  assert.deepEqual(c.bgp.gobgpd, { mode: 'external', host: '127.0.0.1', port: 50051 });
});

test('config: nft Maglev size, 251 unless a prime is given', () => {
  assert.equal(loadConfig({ argv: ['--node-name=n', '--bgp.asn=1'] }).nft.maglevSize, 251);
  assert.equal(loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--nft.maglev-size=31'] }).nft.maglevSize, 31);
  assert.throws(() => loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--nft.maglev-size=100'] }), /^ConfigError: --nft\.maglev-size: must be a prime/);
  assert.throws(() => loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--nft.maglev-size=5'] }), /--nft\.maglev-size/);
});

test('config: nft Cluster mode is node-level DSR unless masquerade is asked for', () => {
  assert.equal(loadConfig({ argv: ['--node-name=n', '--bgp.asn=1'] }).nft.clusterMode, 'dsr');
  assert.equal(loadConfig({ argv: ['--node-name=n', '--bgp.asn=1', '--nft.cluster-mode=masquerade'] }).nft.clusterMode, 'masquerade');
  assert.equal(loadConfig({ argv: ['--node-name=n', '--bgp.asn=1'], env: { BGPVS_NFT_CLUSTER_MODE: 'masquerade' } }).nft.clusterMode, 'masquerade');
});

const bad: Array<[string, Parameters<typeof loadConfig>[0], RegExp]> = [
  ['no node name', { argv: ['--bgp.asn=65001'] }, /^--node-name: required/],
  ['no ASN', { argv: ['--node-name=n'] }, /^--bgp\.asn: required/],
  ['unknown flag', { argv: ['--node-name=n', '--bgp.asm=1'] }, /^--bgp\.asm: unknown flag/],
  ['unknown flag with a separate value', { argv: ['--node-name=n', '--bgp.asm', '1'] }, /^--bgp\.asm: unknown flag/],
  ['short flag', { argv: ['--node-name=n', '-v'] }, /^-v: unknown flag/],
  ['stray argument', { argv: ['--node-name=n', 'agent'] }, /^agent: unexpected argument/],
  ['flag without its value', { argv: ['--node-name=n', '--dataplane', '--bgp.asn=1'] }, /^--dataplane: needs a value/],
  ['boolean flag with a separate value', { argv: ['--node-name=n', '--bgp.asn=1', '--ipam.enabled', 'false'] }, /^--ipam\.enabled: a boolean flag takes its value after "="/],
  ['bad env value names the env var', { argv: ['--node-name=n'], env: { BGPVS_BGP_ASN: 'x' } }, /^BGPVS_BGP_ASN: not an ASN/],
  ['bad peer field names the index', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":0}]'] }, /^--bgp\.peers\[0\]\.asn: must be between 1 and 4294967295: 0/],
  ['reserved peer ASN', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":65535}]'] }, /^--bgp\.peers\[0\]\.asn: is a reserved ASN/],
  ['old static-peer field name', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":1,"holdTime":"9s"}]'] }, /^--bgp\.peers\[0\]\.holdTime: unknown field/],
  ['peer hold time in a file names the file and field', { argv: ['--node-name=n', '--config=/x'], readFile: () => 'bgp:\n  asn: 1\n  peers:\n    - {address: 10.0.0.1, asn: 2, holdTimeSeconds: 2}\n' }, /^\/x: bgp\.peers\[0\]\.holdTimeSeconds: must be 0 or at least 3/],
  ['unknown peer field', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":1,"bdf":true}]'] }, /peers\[0\]\.bdf: unknown field/],
  ['peers not JSON', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=nope'] }, /^--bgp\.peers: must be JSON/],
  ['unreadable file', { argv: ['--node-name=n', '--config=/nope'], readFile }, /^--config: cannot read \/nope/],
  ['unknown file field', { argv: ['--node-name=n', '--config=/x'], readFile: () => 'bgp:\n  asm: 1\n' }, /^\/x: bgp\.asm: unknown field/],
  ['bad nft cluster mode', { argv: ['--node-name=n', '--bgp.asn=1', '--nft.cluster-mode=tunnel'] }, /^--nft\.cluster-mode: must be one of dsr, masquerade/],
  ['bad dataplane', { argv: ['--node-name=n', '--bgp.asn=1', '--dataplane=ebpf'] }, /^--dataplane: must be one of auto, ipvs, nft/],
  ['peer family unknown', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"families":["l2vpn-evpn"]}]'] }, /^--bgp\.peers\[0\]\.families\[0\]: "l2vpn-evpn" is not ipv4-unicast or ipv6-unicast/],
  ['peer families empty', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"families":[]}]'] }, /^--bgp\.peers\[0\]\.families: must be a non-empty list/],
  ['peer family repeated', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"families":["ipv4-unicast","ipv4-unicast"]}]'] }, /^--bgp\.peers\[0\]\.families: items 1 and 0 are the same/],
  ['peer graceful restart malformed', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.peers=[{"address":"10.0.0.1","asn":2,"gracefulRestart":{"time":"1s"}}]'] }, /^--bgp\.peers\[0\]\.gracefulRestart\.time: unknown field/],
  ['the removed externalIPs switch names its replacement', { argv: ['--node-name=n', '--bgp.asn=1', '--service.advertise-external-ips'] }, /^--service\.advertise-external-ips: removed: externalIPs are served only inside --service\.external-ip-cidrs/],
  ['externalIP CIDR with host bits', { argv: ['--node-name=n', '--bgp.asn=1', '--service.external-ip-cidrs=198.51.100.0/24,10.0.0.1/8'] }, /^--service\.external-ip-cidrs\[1\]: host bits set/],
  ['pool minimum prefix out of range', { argv: ['--node-name=n', '--bgp.asn=1', '--ipam.pool-min-prefix-ipv4=0'] }, /^--ipam\.pool-min-prefix-ipv4/],
  ['export CIDR with host bits', { argv: ['--node-name=n', '--bgp.asn=1', '--bgp.export-cidrs=["10.0.0.1/24"]'] }, /export-cidrs\[0\]: host bits set/],
];
for (const [name, src, re] of bad) {
  test(`config rejects: ${name}`, () => {
    assert.throws(() => loadConfig(src), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  });
}

test('config: lease timings scale with the lease duration and must satisfy lease > renew deadline > retry period', () => {
  const base = ['--node-name=n', '--bgp.asn=65001'];
  const d = loadConfig({ argv: base }).ipam;
  assert.deepEqual([d.leaseDurationMs, d.renewDeadlineMs, d.retryPeriodMs], [15_000, 10_000, 2_000]);
  const short = loadConfig({ argv: [...base, '--ipam.lease-duration=3s'] }).ipam;
  assert.deepEqual([short.leaseDurationMs, short.renewDeadlineMs, short.retryPeriodMs], [3_000, 2_000, 400]);
  const explicit = loadConfig({ argv: [...base, '--ipam.lease-duration=20s', '--ipam.renew-deadline=12s', '--ipam.retry-period=1s'] }).ipam;
  assert.deepEqual([explicit.leaseDurationMs, explicit.renewDeadlineMs, explicit.retryPeriodMs], [20_000, 12_000, 1_000]);
  const bad: [string[], RegExp][] = [
    [['--ipam.lease-duration=10s', '--ipam.renew-deadline=10s'], /^--ipam\.lease-duration: must be longer than --ipam\.renew-deadline/],
    [['--ipam.renew-deadline=20s'], /^--ipam\.lease-duration: must be longer than --ipam\.renew-deadline \(15000 ms <= 20000 ms\)/],
    [['--ipam.renew-deadline=2s', '--ipam.retry-period=2s'], /^--ipam\.renew-deadline: must be longer than --ipam\.retry-period/],
    [['--ipam.retry-period=0s'], /^--ipam\.retry-period: must be positive/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(() => loadConfig({ argv: [...base, ...argv] }), (err: unknown) => err instanceof ConfigError && re.test(err.message), argv.join(' '));
  }
});

test('config: externalIPs are off unless allowed by CIDR; pool width limits', () => {
  const base = ['--node-name=n', '--bgp.asn=1'];
  const d = loadConfig({ argv: base });
  assert.deepEqual(d.service.externalIpCidrs, []);
  assert.deepEqual(loadConfig({ argv: [...base, '--service.advertise-external-ips=false'] }).service.externalIpCidrs, [], 'false is the default now');
  assert.deepEqual(d.ipam.poolMinPrefixLength, { IPv4: 16, IPv6: 64 });
  assert.deepEqual(loadConfig({ argv: [...base, '--service.external-ip-cidrs=198.51.100.0/24, 2001:db8:1::/64', '--ipam.pool-min-prefix-ipv4=20'] }).service.externalIpCidrs, ['198.51.100.0/24', '2001:db8:1::/64']);
  const f = loadConfig({ argv: [...base, '--config=/c'], readFile: () => 'service:\n  external-ip-cidrs: [198.51.100.0/25]\nipam:\n  pool-min-prefix-ipv6: 112\n' });
  assert.deepEqual(f.service.externalIpCidrs, ['198.51.100.0/25']);
  assert.equal(f.ipam.poolMinPrefixLength.IPv6, 112);
});
