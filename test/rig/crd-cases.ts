/**
 * Bad BGPPeer and IPPool specs, each with what the real API server answers (k8s-crds
 * integration test) and what the agent's own check says (crd-schemas unit test): one table,
 * so the two paths stay the same shape. `cel` names the CRD's x-kubernetes-validations rule a
 * case exercises; the unit test wants a case for every rule (ajv does not run CEL, so each
 * rule has a hand-written twin in config/peer.ts or ipam/pools.ts).
 */
export interface CrdCase {
  name: string;
  spec: unknown;
  /** Matches the API server's 422 body. */
  apiServer: RegExp;
  /** Matches the agent's error (peerFromSpec('spec', …) / parsePool's reason). */
  local: RegExp;
  cel?: string;
}

export const BAD_POOLS: CrdCase[] = [
  { name: 'no addresses', spec: {}, apiServer: /spec: Invalid value.*at least one CIDR or range/, local: /^spec: no cidrs or ranges/, cel: 'a pool needs at least one CIDR or range' },
  { name: 'CIDR syntax', spec: { cidrs: ['192.0.2.0/33'] }, apiServer: /spec\.cidrs\[0\].*must be a CIDR/, local: /^spec\.cidrs\[0\]: .* is not a CIDR/, cel: 'must be a CIDR such as 192.0.2.0/24 or 2001:db8::/120' },
  { name: 'CIDR host bits', spec: { cidrs: ['192.0.2.1/24'] }, apiServer: /spec\.cidrs\[0\].*no host bits/, local: /^spec\.cidrs\[0\]: .* has host bits set/, cel: 'must have no host bits set (e.g. 192.0.2.0/24, not 192.0.2.1/24)' },
  { name: 'range end not an IP', spec: { ranges: [{ start: '192.0.2.1', end: 'x' }] }, apiServer: /spec\.ranges\[0\]\.end.*must be an IP address/, local: /^spec\.ranges\[0\]\.end: "x" is not an IP address/, cel: 'must be an IP address' },
  { name: 'range start after end', spec: { ranges: [{ start: '192.0.2.20', end: '192.0.2.10' }] }, apiServer: /spec\.ranges\[0\].*start must not be after end/, local: /^spec\.ranges\[0\]: start 192\.0\.2\.20 is after end/, cel: 'start must not be after end' },
  { name: 'range mixed families', spec: { ranges: [{ start: '192.0.2.1', end: '2001:db8::1' }] }, apiServer: /spec\.ranges\[0\].*same IP family/, local: /^spec\.ranges\[0\]: start and end are of different families/, cel: 'start and end must be of the same IP family' },
  { name: 'community syntax', spec: { cidrs: ['192.0.2.0/24'], bgp: { communities: ['65000-1'] } }, apiServer: /spec\.bgp\.communities\[0\]/, local: /^spec\.bgp\.communities\[0\]: "65000-1" does not match/ },
  { name: 'large community syntax', spec: { cidrs: ['192.0.2.0/24'], bgp: { largeCommunities: ['1:2'] } }, apiServer: /spec\.bgp\.largeCommunities\[0\]/, local: /^spec\.bgp\.largeCommunities\[0\]: "1:2" does not match/ },
  { name: 'localPref range', spec: { cidrs: ['192.0.2.0/24'], bgp: { localPref: -1 } }, apiServer: /spec\.bgp\.localPref/, local: /^spec\.bgp\.localPref: must be between 0 and 4294967295: -1/ },
  { name: 'selector operator', spec: { cidrs: ['192.0.2.0/24'], serviceAllocation: { serviceSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } } }, apiServer: /spec\.serviceAllocation\.serviceSelector\.matchExpressions\[0\]\.operator/, local: /^spec\.serviceAllocation\.serviceSelector\.matchExpressions\[0\]\.operator: "Is" is not In, NotIn, Exists or DoesNotExist/ },
  { name: 'selector In without values', spec: { cidrs: ['192.0.2.0/24'], serviceAllocation: { namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } }, apiServer: /spec\.serviceAllocation\.namespaceSelector\.matchExpressions\[0\].*need values/, local: /^spec\.serviceAllocation\.namespaceSelector\.matchExpressions\[0\]: In\/NotIn need values/, cel: 'In/NotIn need values; Exists/DoesNotExist take none' },
  { name: 'namespace name', spec: { cidrs: ['192.0.2.0/24'], serviceAllocation: { namespaces: ['Not_A_Name'] } }, apiServer: /spec\.serviceAllocation\.namespaces\[0\]/, local: /^spec\.serviceAllocation\.namespaces\[0\]: "Not_A_Name" does not match/ },
  { name: 'a /0', spec: { cidrs: ['0.0.0.0/0'] }, apiServer: /spec\.cidrs\[0\].*a \/0 is every address/, local: /^spec\.cidrs\[0\]: 0\.0\.0\.0\/0 covers unspecified/, cel: 'a /0 is every address, not a pool' },
  { name: 'a CIDR over loopback', spec: { cidrs: ['0.0.0.0/1'] }, apiServer: /spec\.cidrs\[0\].*must not cover loopback/, local: /^spec\.cidrs\[0\]: 0\.0\.0\.0\/1 covers unspecified/, cel: 'must not cover loopback, link-local, multicast or unspecified space (0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, ::, ::1, fe80::/10, ff00::/8)' },
  { name: 'an IPv6 link-local CIDR', spec: { cidrs: ['fe80::/64'] }, apiServer: /spec\.cidrs\[0\].*must not cover loopback/, local: /^spec\.cidrs\[0\]: fe80::\/64 covers link-local space/ },
  { name: 'a multicast CIDR', spec: { cidrs: ['239.1.0.0/24'] }, apiServer: /spec\.cidrs\[0\].*must not cover loopback/, local: /^spec\.cidrs\[0\]: 239\.1\.0\.0\/24 covers multicast space/ },
  { name: 'a range ending in loopback', spec: { ranges: [{ start: '126.255.255.0', end: '127.0.0.5' }] }, apiServer: /spec\.ranges\[0\].*must not start or end in loopback/, local: /^spec\.ranges\[0\]: 126\.255\.255\.0-127\.0\.0\.5 covers loopback space/, cel: 'must not start or end in loopback, link-local, multicast or unspecified space (0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, ::, ::1, fe80::/10, ff00::/8)' },
  { name: 'a community over 65535', spec: { cidrs: ['192.0.2.0/24'], bgp: { communities: ['65536:1'] } }, apiServer: /spec\.bgp\.communities\[0\].*at most 65535/, local: /^spec\.bgp\.communities\[0\]: "65536:1" is not a community the speaker can send/, cel: 'both halves of A:B must be at most 65535' },
  { name: 'a large community over 2^32-1', spec: { cidrs: ['192.0.2.0/24'], bgp: { largeCommunities: ['4294967296:1:1'] } }, apiServer: /spec\.bgp\.largeCommunities\[0\].*at most 4294967295/, local: /^spec\.bgp\.largeCommunities\[0\]: "4294967296:1:1" is not a large community the speaker can send/, cel: 'each part of G:L1:L2 must be at most 4294967295' },
];

/** Pools the API server admits but the agent refuses (status condition Ready=False): what CEL cannot see. */
export const UNREADY_POOLS: { name: string; spec: unknown; local: RegExp }[] = [
  { name: 'a range spanning loopback', spec: { ranges: [{ start: '126.0.0.0', end: '128.0.0.0' }] }, local: /^spec\.ranges\[0\]: 126\.0\.0\.0-128\.0\.0\.0 covers loopback space/ },
  { name: 'wider than the minimum prefix', spec: { cidrs: ['10.0.0.0/8'] }, local: /^spec\.cidrs\[0\]: 10\.0\.0\.0\/8 is wider than a \/16/ },
  { name: 'an IPv6 range wider than the minimum prefix', spec: { ranges: [{ start: '2001:db8::', end: '2001:db8:0:1::' }] }, local: /is wider than a \/64/ },
  { name: 'two of its own CIDRs overlapping', spec: { cidrs: ['192.0.2.0/24', '192.0.2.128/25'] }, local: /^spec\.cidrs\[1\]: 192\.0\.2\.128\/25 overlaps spec\.cidrs\[0\]/ },
];

const P = { address: '192.0.2.1', asn: 65001 };
export const BAD_PEERS: CrdCase[] = [
  { name: 'missing asn', spec: { address: '192.0.2.1' }, apiServer: /spec\.asn: Required value/, local: /^spec\.asn: required$/ },
  { name: 'address not an IP', spec: { ...P, address: '192.0.2.300' }, apiServer: /spec\.address.*must be an IP address/, local: /^spec\.address: not an IP address/, cel: 'must be an IP address' },
  { name: 'asn 0', spec: { ...P, asn: 0 }, apiServer: /spec\.asn/, local: /^spec\.asn: must be between 1 and 4294967295: 0/ },
  { name: 'asn too big', spec: { ...P, asn: 4294967296 }, apiServer: /spec\.asn/, local: /^spec\.asn: must be between 1 and 4294967295/ },
  { name: 'port 0', spec: { ...P, port: 0 }, apiServer: /spec\.port/, local: /^spec\.port: must be between 1 and 65535: 0/ },
  { name: 'hold time 2', spec: { ...P, holdTimeSeconds: 2 }, apiServer: /spec\.holdTimeSeconds.*0 or at least 3/, local: /^spec\.holdTimeSeconds: must be 0 or at least 3/, cel: 'must be 0 or at least 3' },
  { name: 'keepalive ≥ hold', spec: { ...P, holdTimeSeconds: 9, keepaliveSeconds: 9 }, apiServer: /spec: Invalid value.*keepaliveSeconds must be less/, local: /^spec: keepaliveSeconds must be less than holdTimeSeconds/, cel: 'keepaliveSeconds must be less than holdTimeSeconds' },
  { name: 'bfd multiplier', spec: { ...P, bfd: { multiplier: 0 } }, apiServer: /spec\.bfd\.multiplier/, local: /^spec\.bfd\.multiplier: must be between 1 and 255: 0/ },
  { name: 'source family', spec: { ...P, sourceAddress: '2001:db8::1' }, apiServer: /sourceAddress must be of the same IP family/, local: /^spec: sourceAddress must be of the same IP family as address/, cel: 'sourceAddress must be of the same IP family as address' },
  { name: 'family name', spec: { ...P, families: ['ipv4'] }, apiServer: /spec\.families\[0\]/, local: /^spec\.families\[0\]: "ipv4" is not ipv4-unicast or ipv6-unicast/ },
  { name: 'no families', spec: { ...P, families: [] }, apiServer: /spec\.families: Invalid value.*at least 1 items/, local: /^spec\.families: must be a non-empty list/ },
  { name: 'repeated family', spec: { ...P, families: ['ipv4-unicast', 'ipv4-unicast'] }, apiServer: /spec\.families\[1\]: Duplicate value/, local: /^spec\.families: items 1 and 0 are the same/ },
  { name: 'asn AS_TRANS', spec: { ...P, asn: 23456 }, apiServer: /spec\.asn.*reserved ASN/, local: /^spec\.asn: is a reserved ASN.*: 23456/, cel: 'is a reserved ASN (23456 is AS_TRANS, 65535 and 4294967295 are reserved)' },
  { name: 'asn 65535', spec: { ...P, asn: 65535 }, apiServer: /spec\.asn.*reserved ASN/, local: /^spec\.asn: is a reserved ASN.*: 65535/ },
  { name: 'asn 4294967295', spec: { ...P, asn: 4294967295 }, apiServer: /spec\.asn.*reserved ASN/, local: /^spec\.asn: is a reserved ASN.*: 4294967295/ },
  { name: 'localASN reserved', spec: { ...P, localASN: 23456 }, apiServer: /spec\.localASN.*reserved ASN/, local: /^spec\.localASN: is a reserved ASN/ },
  { name: 'loopback address', spec: { ...P, address: '127.0.0.1' }, apiServer: /spec\.address.*must not be a loopback/, local: /^spec\.address: must not be a loopback, unspecified or multicast address: 127\.0\.0\.1/, cel: 'must not be a loopback, unspecified or multicast address' },
  { name: 'unspecified address', spec: { ...P, address: '::' }, apiServer: /spec\.address.*must not be a loopback/, local: /^spec\.address: must not be a loopback/ },
  { name: 'multicast address', spec: { ...P, address: '224.0.0.5' }, apiServer: /spec\.address.*must not be a loopback/, local: /^spec\.address: must not be a loopback/ },
  { name: 'IPv6 loopback source', spec: { ...P, address: '2001:db8::1', sourceAddress: '::1' }, apiServer: /spec\.sourceAddress.*must not be a loopback/, local: /^spec\.sourceAddress: must not be a loopback/ },
  { name: 'secret ref without namespace', spec: { ...P, passwordSecretRef: { name: 'x' } }, apiServer: /spec\.passwordSecretRef\.namespace: Required value/, local: /^spec\.passwordSecretRef\.namespace: required$/ },
];
