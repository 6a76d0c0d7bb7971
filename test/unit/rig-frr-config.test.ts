/** renderFrrConfig: the text FrrRouter hands to zebra/bgpd and bfdd (run for real in frr-router.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderFrrConfig } from '../rig/frr-router.js';

test('renderFrrConfig: ECMP router with BFD, timers, password, port', () => {
  const r = renderFrrConfig(
    {
      asn: 65000,
      routerId: '10.0.0.1',
      hostname: 'r',
      neighbors: [
        { address: '10.0.0.11', asn: 65011, bfd: true, timers: { keepaliveSeconds: 1, holdSeconds: 3 } },
        { address: '10.0.0.12', asn: 'external', port: 1790, password: 's3cret' },
      ],
      multipath: { relax: true, maxPaths: 16, maxPathsIbgp: 4 },
      bfdProfile: { name: 'fast', receiveMs: 100, transmitMs: 100, multiplier: 3 },
      bandwidth: 'skip-missing',
    },
    { logFile: '/tmp/x/frr.log' },
  );
  assert.equal(
    r.frr,
    [
      'frr defaults traditional',
      'hostname r',
      'log file /tmp/x/frr.log',
      '!',
      'router bgp 65000',
      ' bgp router-id 10.0.0.1',
      ' no bgp ebgp-requires-policy',
      ' no bgp network import-check',
      ' bgp bestpath as-path multipath-relax',
      ' bgp bestpath bandwidth skip-missing',
      ' neighbor 10.0.0.11 remote-as 65011',
      ' neighbor 10.0.0.11 timers 1 3',
      ' neighbor 10.0.0.11 timers connect 1',
      ' neighbor 10.0.0.11 bfd profile fast',
      ' neighbor 10.0.0.12 remote-as external',
      ' neighbor 10.0.0.12 port 1790',
      ' neighbor 10.0.0.12 password s3cret',
      ' neighbor 10.0.0.12 timers connect 1',
      ' address-family ipv4 unicast',
      '  maximum-paths 16',
      '  maximum-paths ibgp 4',
      ' exit-address-family',
      'exit',
      '!',
      '',
    ].join('\n'),
  );
  assert.equal(r.bfdd, 'bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n exit\nexit\n!\n');
  assert.doesNotMatch(r.frr, /^bfd/m, 'zebra/bgpd must not see the bfd node');
});

test('renderFrrConfig: minimal, no multipath, no BFD', () => {
  const r = renderFrrConfig({ asn: 65000, routerId: '10.0.0.1', neighbors: [{ address: '10.0.0.11', asn: 65011, bfd: true }] });
  assert.match(r.frr, / neighbor 10.0.0.11 bfd\n/);
  assert.doesNotMatch(r.frr, /maximum-paths|multipath-relax|log file/);
  assert.equal(r.bfdd, '!\n');
});

test('renderFrrConfig: debugUpdates logs received UPDATEs with ms timestamps', () => {
  const r = renderFrrConfig({ asn: 65000, routerId: '10.0.0.1', neighbors: [], debugUpdates: true }, { logFile: '/tmp/x/frr.log' });
  assert.match(r.frr, /^log file \/tmp\/x\/frr.log debugging\nlog timestamp precision 3\ndebug bgp updates in\n!/m);
});
