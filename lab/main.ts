/**
 * `npm run lab` / `lab:down`: `node --import tsx lab/main.ts up | down | status | run`.
 * The lab and its rig are development tools, not part of the agent's image.
 */
import { labCommand } from './cli.js';

labCommand(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
