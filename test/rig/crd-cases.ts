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
  { name: 'secret ref without namespace', spec: { ...P, passwordSecretRef: { name: 'x' } }, apiServer: /spec\.passwordSecretRef\.namespace: Required value/, local: /^spec\.passwordSecretRef\.namespace: required$/ },
];
