/**
 * The agent's start-up coexistence check, run on its own inside a lab node namespace
 * (`ip netns exec NS node --import tsx coexist-check.ts '<json>'`): reads the real port-179
 * listeners of that namespace; API findings are given (no API server in these tests).
 * Prints the notes and exits 0, or prints the refusal and exits 1, like `bgpvs agent`.
 */
import { checkCoexistence, CoexistenceError, readListeners } from '../../src/coexist/findings.js';

const input = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof checkCoexistence>[0];
try {
  const { notes } = await checkCoexistence(input, { listeners: () => readListeners(179), served: async () => new Map() });
  console.log(notes.join('\n'));
} catch (err) {
  if (!(err instanceof CoexistenceError)) throw err;
  console.error(err.message);
  process.exit(1);
}
