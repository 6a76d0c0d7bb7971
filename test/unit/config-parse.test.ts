import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAsn, parseBool, parseCidr, parseDuration, parseHostPort, parseInt, parseIp } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';

const ok: Array<[string, () => unknown, unknown]> = [
  ['duration ms', () => parseDuration('f', '500ms'), 500],
  ['duration s', () => parseDuration('f', '3s'), 3000],
  ['duration fractional m', () => parseDuration('f', '1.5m'), 90_000],
  ['asn plain', () => parseAsn('f', '65001'), 65001],
  ['asn 32-bit', () => parseAsn('f', '4200000000'), 4200000000],
  ['asn asdot', () => parseAsn('f', '1.10'), 65546],
  ['ipv6 canonical', () => parseIp('f', '2001:DB8:0:0::1'), '2001:db8::1'],
  ['cidr v4', () => parseCidr('f', '10.96.0.0/16'), '10.96.0.0/16'],
  ['cidr v6', () => parseCidr('f', '2001:db8::/64'), '2001:db8::/64'],
  ['bool', () => parseBool('f', 'Yes'), true],
  ['host:port v4', () => parseHostPort('f', '127.0.0.1:50051'), { host: '127.0.0.1', port: 50051 }],
  ['host:port v6', () => parseHostPort('f', '[::1]:50051'), { host: '::1', port: 50051 }],
  ['int in range', () => parseInt('f', '-1', -1, 65535), -1],
];
for (const [name, fn, want] of ok) test(`config parse: ${name}`, () => assert.deepEqual(fn(), want));

const bad: Array<[string, () => unknown, RegExp]> = [
  ['duration without unit', () => parseDuration('bgp.drain', '30'), /^bgp\.drain: not a duration/],
  ['asn zero', () => parseAsn('bgp.asn', '0'), /^bgp\.asn: ASN out of range/],
  ['asn 65535 reserved', () => parseAsn('bgp.asn', '65535'), /reserved/],
  ['asn text', () => parseAsn('bgp.asn', 'AS65001'), /not an ASN/],
  ['ip', () => parseIp('node-address', '10.0.0.300'), /^node-address: not an IP/],
  ['ip shorthand', () => parseIp('node-address', '1.2.3'), /^node-address: not an IP/],
  ['cidr host bits', () => parseCidr('pool', '10.0.0.5/24'), /did you mean 10\.0\.0\.0\/24/],
  ['cidr garbage', () => parseCidr('pool', '10.0.0.0'), /not a CIDR/],
  ['bool', () => parseBool('x', 'maybe'), /not a boolean/],
  ['int range', () => parseInt('metrics-port', '70000', 1, 65535), /between 1 and 65535/],
  ['host:port', () => parseHostPort('gobgpd', 'localhost:1'), /not an IP/],
];
for (const [name, fn, re] of bad) {
  test(`config parse rejects: ${name}`, () => {
    assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test(e.message));
  });
}
