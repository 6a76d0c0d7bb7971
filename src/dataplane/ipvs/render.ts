/** Pure: ipvsadm operations → an `ipvsadm -R` batch (one command per line). */
import type { ForwardingMethod, Protocol, VirtualServerKey } from '../../model/types.js';
import type { IpvsOp, ServiceSpec } from './diff.js';
import { formatHostPort } from './parse.js';

const PROTO: Record<Protocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };
const FWD: Record<ForwardingMethod, string> = { dr: '-g', tunnel: '-i', nat: '-m' };

function svc(k: VirtualServerKey): string {
  return `${PROTO[k.protocol]} ${formatHostPort(k.vip, k.port)}`;
}

function svcOpts(s: ServiceSpec): string {
  let out = ` -s ${s.scheduler}`;
  if (s.schedulerFlags.length) out += ` -b ${s.schedulerFlags.join(',')}`;
  if (s.persistenceSeconds > 0) out += ` -p ${s.persistenceSeconds}`;
  return out;
}

export function renderIpvsOp(op: IpvsOp): string {
  switch (op.kind) {
    case 'add-service':
      return `-A ${svc(op.service)}${svcOpts(op.service)}`;
    case 'edit-service':
      return `-E ${svc(op.service)}${svcOpts(op.service)}`;
    case 'delete-service':
      return `-D ${svc(op.service)}`;
    case 'add-real':
    case 'edit-real':
      return `${op.kind === 'add-real' ? '-a' : '-e'} ${svc(op.service)} -r ${formatHostPort(op.real.address, op.real.port)} ${FWD[op.real.forwarding]} -w ${op.real.weight}`;
    case 'delete-real':
      return `-d ${svc(op.service)} -r ${formatHostPort(op.real.address, op.real.port)}`;
  }
}

/** The batch for `ipvsadm -R` on stdin; empty string for no ops. */
export function renderIpvsBatch(ops: readonly IpvsOp[]): string {
  return ops.map((op) => `${renderIpvsOp(op)}\n`).join('');
}
