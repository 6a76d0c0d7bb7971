/**
 * `bgpvs agent | version` — argument dispatch only; each command lives in its module.
 * (The lab is not part of the agent: `npm run lab`, lab/main.ts.)
 */
const [cmd] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
      console.log('usage: bgpvs <agent|version>');
      return 0;
    case 'agent': {
      const { agentCommand } = await import('./agent/main.js');
      return agentCommand(process.argv.slice(3));
    }
    case 'version': {
      const { versions } = await import('./paths.js');
      console.log(JSON.stringify({ bgpvs: '0.1.0', ...versions() }));
      return 0;
    }
    default:
      console.error(`bgpvs: unknown command ${cmd}`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
