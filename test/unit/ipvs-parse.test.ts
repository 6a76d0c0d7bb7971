/** ipvsadm -Sn / -Ln parsers against output captured from the real ipvsadm in the VM (test/vm/guest/ipvs-capture.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { IpvsParseError, parseHostPort, parseIpvsadmListConns, parseIpvsadmSave } from '../../src/dataplane/ipvs/parse.js';

const golden = (f: string) => readFileSync(new URL(`./golden/${f}`, import.meta.url), 'utf8');

test('parse captured ipvsadm -Sn: TCP/UDP/SCTP, IPv6, mh/sh flags, persistence, DR/tunnel/NAT, weights, fwmark foreign', () => {
  const { services, foreign } = parseIpvsadmSave(golden('ipvs-captured-save.txt'));
  assert.deepEqual(
    services.map((s) => [s.protocol, s.vip, s.port, s.family, s.scheduler, s.schedulerFlags.join(','), s.persistenceSeconds, s.forwarding]),
    [
      ['TCP', '10.0.0.100', 80, 'IPv4', 'rr', '', 0, 'dr'],
      ['TCP', '10.0.0.200', 80, 'IPv4', 'mh', 'mh-fallback,mh-port', 0, 'tunnel'],
      ['UDP', '10.0.0.101', 53, 'IPv4', 'wlc', '', 300, 'tunnel'],
      ['SCTP', '10.0.0.102', 9000, 'IPv4', 'sh', 'sh-fallback,sh-port', 0, 'dr'],
      ['TCP', '2001:db8::10', 443, 'IPv6', 'mh', 'mh-port', 60, 'dr'],
    ],
  );
  assert.deepEqual(services[0]!.realServers, [
    { address: '10.0.0.11', port: 80, weight: 1, forwarding: 'dr' },
    { address: '10.0.0.12', port: 8080, weight: 0, forwarding: 'nat' },
  ]);
  assert.deepEqual(services[2]!.realServers, [{ address: '10.0.0.11', port: 53, weight: 3, forwarding: 'tunnel' }]);
  assert.deepEqual(services[4]!.realServers, [{ address: '2001:db8::1', port: 443, weight: 1, forwarding: 'dr' }]);
  assert.equal(services[3]!.realServers.length, 0);
  assert.deepEqual(foreign, [{ reason: 'fwmark 7', lines: ['-A -f 7 -s rr', '-a -f 7 -r 10.0.0.11:0 -g -w 1'] }]);
});

test('parse captured ipvsadm -Ln: connection counts per real server, fwmark skipped', () => {
  const conns = parseIpvsadmListConns(golden('ipvs-captured-list.txt'));
  assert.deepEqual([...conns.keys()], [
    'TCP/10.0.0.100/80>10.0.0.11/80',
    'TCP/10.0.0.100/80>10.0.0.12/8080',
    'TCP/10.0.0.200/80>10.0.0.11/80',
    'UDP/10.0.0.101/53>10.0.0.11/53',
    'TCP/2001:db8::10/443>2001:db8::1/443',
  ]);
  assert.deepEqual(conns.get('TCP/10.0.0.100/80>10.0.0.11/80'), { active: 0, inactive: 0 });
  const busy = parseIpvsadmListConns('TCP  10.0.0.1:80 rr\n  -> 10.0.0.2:80                 Route   0      3          7\n');
  assert.deepEqual(busy.get('TCP/10.0.0.1/80>10.0.0.2/80'), { active: 3, inactive: 7 });
});

const cases: Array<[string, string, (r: ReturnType<typeof parseIpvsadmSave>) => void]> = [
  ['empty table', '', (r) => assert.deepEqual(r, { services: [], foreign: [] })],
  ['long options', '-A --tcp-service 10.1.1.1:80 --scheduler wrr --persistent 10\n-a --tcp-service 10.1.1.1:80 --real-server 10.2.2.2:81 --ipip --weight 4\n', (r) => {
    assert.equal(r.services[0]!.scheduler, 'wrr');
    assert.equal(r.services[0]!.persistenceSeconds, 10);
    assert.deepEqual(r.services[0]!.realServers, [{ address: '10.2.2.2', port: 81, weight: 4, forwarding: 'tunnel' }]);
  }],
  ['unknown scheduler → foreign with key', '-A -t 10.1.1.1:80 -s dh\n-a -t 10.1.1.1:80 -r 10.2.2.2:80 -g -w 1\n', (r) => {
    assert.equal(r.services.length, 0);
    assert.deepEqual(r.foreign[0]!.key, { vip: '10.1.1.1', port: 80, protocol: 'TCP' });
    assert.equal(r.foreign[0]!.lines.length, 2);
  }],
  ['IPv6 canonicalised', '-A -u [2001:0db8:0:0::0010]:53 -s rr\n', (r) => assert.equal(r.services[0]!.vip, '2001:db8::10')],
];
for (const [name, text, check] of cases) test(`parse -Sn: ${name}`, () => check(parseIpvsadmSave(text)));

test('parse -Sn: malformed lines throw IpvsParseError with the line number', () => {
  for (const bad of ['-X foo', '-a -t 10.1.1.1:80 -r 10.2.2.2:80 -g', '-A -t 10.1.1.1 -s rr', '-A -t 10.1.1.1:80 -s rr\n-a -t 10.1.1.1:80 -r 10.2.2.2:80 -w 1']) {
    assert.throws(() => parseIpvsadmSave(bad), IpvsParseError, bad);
  }
  assert.equal(parseHostPort('[::1]:80')?.address, '::1');
  assert.equal(parseHostPort('1.2.3.4:70000'), undefined);
});
