/** The one ordering of model output, so every node renders the same state byte for byte. */
import type { RealServer, VirtualServerKey } from '../model/types.js';

/** Code-unit string order (locale-independent, unlike localeCompare). */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const vsKey = (v: VirtualServerKey): string => `${v.vip}|${v.protocol}|${v.port}`;

export const compareVirtualServers = (a: VirtualServerKey, b: VirtualServerKey): number =>
  cmp(a.vip, b.vip) || cmp(a.protocol, b.protocol) || a.port - b.port;

export const compareRealServers = (a: Pick<RealServer, 'address' | 'port'>, b: Pick<RealServer, 'address' | 'port'>): number =>
  cmp(a.address, b.address) || a.port - b.port;
