/** The fake ipvsadm's table, kept as `ipvsadm -S` lines, shared by the IPVS adapter tests. */
import assert from 'node:assert/strict';

const svcOf = (l: string) => l.split(' ').slice(1, 3).join(' ');
const realOf = (l: string) => l.split(' ').slice(1, 5).join(' ');

/**
 * Applies an `ipvsadm -R` batch to `lines` as the kernel would, asserting each command is
 * valid for the table it meets (no adding what exists, no editing or deleting what does not).
 */
export function applyIpvsRestore(lines: string[], input: string): void {
  for (const l of input.split('\n').filter(Boolean)) {
    const cmd = l.slice(0, 2);
    const i = lines.findIndex((x) => (cmd === '-a' || cmd === '-e' || cmd === '-d' ? x.startsWith('-a') && realOf(x) === realOf(l) : x.startsWith('-A') && svcOf(x) === svcOf(l)));
    if (cmd === '-A' || cmd === '-a') {
      assert.equal(i, -1, `exists: ${l}`);
      lines.push(l);
    } else {
      assert.ok(i >= 0, `missing: ${l}`);
      if (cmd === '-D') lines.splice(0, lines.length, ...lines.filter((x) => svcOf(x) !== svcOf(l)));
      else if (cmd === '-d') lines.splice(i, 1);
      else lines[i] = `${cmd === '-E' ? '-A' : '-a'}${l.slice(2)}`;
    }
  }
}
