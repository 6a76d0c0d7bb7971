import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideCoexistence, listenersOnPort, type CoexistInput, type Findings } from '../../src/coexist/detect.js';

// Real /proc/net/tcp and tcp6 rows: a listener on 10.0.0.11:179, one on 0.0.0.0:22, an
// established connection to port 179, and a tcp6 listener on [::]:179.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0B00000A:00B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0B00000A:9C40 0100000A:00B3 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:00B3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:00B3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
`;

test('coexist: listeners on 179 read from /proc/net/tcp and tcp6', () => {
  assert.deepEqual(listenersOnPort(TCP, 179), ['10.0.0.11']);
  assert.deepEqual(listenersOnPort(TCP, 22), ['0.0.0.0']);
  assert.deepEqual(listenersOnPort(TCP6, 179), ['::', '2001:db8::1']);
});

const none: Findings = { port179Listeners: [], calicoBgp: false, ciliumBgp: false };
const calico: Findings = { port179Listeners: ['0.0.0.0'], calicoBgp: true, ciliumBgp: false };
const base: CoexistInput = {
  mode: 'dedicated',
  nodeAddress: '10.0.0.11',
  peers: [{ address: '10.0.0.1', port: 179 }],
  findings: none,
  allowWriteCniConfig: false,
};

const cases: Array<[string, Partial<CoexistInput>, boolean, RegExp]> = [
  ['dedicated, nothing else on the node', {}, true, /no other BGP speaker/],
  ['dedicated beside Calico from the node address: refused, names what was found and the fitting modes', { findings: calico }, false, /found a BGP speaker listening on 0\.0\.0\.0:179 and Calico BGP resources.*10\.0\.0\.1 from the node address 10\.0\.0\.11.*"via-local-speaker".*"delegate"/s],
  ['dedicated beside Calico with its own source address', { findings: calico, peers: [{ address: '10.0.0.1', port: 179, sourceAddress: '10.0.0.111' }] }, true, /own source address/],
  ['dedicated beside Calico to another router port', { findings: calico, peers: [{ address: '10.0.0.1', port: 1179 }] }, true, /router port/],
  ['dedicated beside Cilium (API only) is refused too', { findings: { ...none, ciliumBgp: true } }, false, /Cilium/],
  ['via-local-speaker with a local speaker', { mode: 'via-local-speaker', findings: calico }, true, /Calico/],
  ['via-local-speaker without one', { mode: 'via-local-speaker' }, false, /no local speaker listens on port 179.*"dedicated"/],
  ['delegate to Calico, allowed to write', { mode: 'delegate', findings: calico, allowWriteCniConfig: true }, true, /Calico will advertise/],
  ['delegate to Calico, not allowed to write', { mode: 'delegate', findings: calico }, true, /serviceLoadBalancerIPs/],
  ['delegate with no CNI speaker', { mode: 'delegate' }, false, /no CNI BGP configuration.*"dedicated"/],
];
for (const [name, over, ok, re] of cases) {
  test(`coexist: ${name}`, () => {
    const d = decideCoexistence({ ...base, ...over });
    assert.equal(d.ok, ok);
    assert.match(d.ok ? d.notes.join(' ') : d.message, re);
  });
}
