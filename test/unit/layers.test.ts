/**
 * The layer rules in eslint.config.js fail on a bad import: each fixture below is linted as
 * if it stood at the path named, with the project's own config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath });
  return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: { name: string; file: string; code: string; bad: boolean }[] = [
  { name: 'ipam (pure) importing the agent', file: 'src/ipam/fixture.ts', code: "import { Agent } from '../agent/agent.js';\nexport const x = Agent;\n", bad: true },
  { name: 'ipam importing an adapter (k8s)', file: 'src/ipam/fixture.ts', code: "import { statusApi } from '../k8s/status-writer.js';\nexport const x = statusApi;\n", bad: true },
  { name: 'model importing desired', file: 'src/model/fixture.ts', code: "import { ModelBuilder } from '../desired/builder.js';\nexport const x = ModelBuilder;\n", bad: true },
  { name: 'desired importing a sibling of its rank (ipam)', file: 'src/desired/fixture.ts', code: "import { allocate } from '../ipam/allocator.js';\nexport const x = allocate;\n", bad: true },
  { name: 'a nested data-plane module importing bgp (same rank)', file: 'src/dataplane/nft/fixture.ts', code: "import { GobgpSpeaker } from '../../bgp/speaker.js';\nexport const x = GobgpSpeaker;\n", bad: true },
  { name: 'config importing paths.ts (rank 2)', file: 'src/config/fixture.ts', code: "import { toolPath } from '../paths.js';\nexport const x = toolPath;\n", bad: true },
  { name: 'the agent importing the test rig', file: 'src/agent/fixture.ts', code: "import { KubeApi } from '../../test/rig/kube-api.js';\nexport const x = KubeApi;\n", bad: true },
  { name: 'the agent importing the lab', file: 'src/agent/fixture.ts', code: "import { startLab } from '../../lab/run.js';\nexport const x = startLab;\n", bad: true },
  { name: 'the agent importing anything in src', file: 'src/agent/fixture.ts', code: "import { allocate } from '../ipam/allocator.js';\nimport { statusApi } from '../k8s/status-writer.js';\nexport const x = [allocate, statusApi];\n", bad: false },
  { name: 'an adapter importing the pure core', file: 'src/dataplane/nft/fixture.ts', code: "import { canonicalIp } from '../../model/ip.js';\nimport { run } from '../../exec/run.js';\nexport const x = [canonicalIp, run];\n", bad: false },
  { name: 'a module importing its own directory', file: 'src/ipam/fixture.ts', code: "import { allocate } from './allocator.js';\nexport const x = allocate;\n", bad: false },
  { name: 'the pure core importing typed errors', file: 'src/model/fixture.ts', code: "import { BgpvsError } from '../errors.js';\nexport const x = BgpvsError;\n", bad: false },
];

for (const c of cases) {
  test(`layers: ${c.name} is ${c.bad ? 'refused' : 'allowed'}`, async () => {
    const errors = await layerErrors(c.file, c.code);
    if (c.bad) assert.ok(errors.length > 0, `expected a layer error for ${c.file}`);
    else assert.deepEqual(errors, []);
  });
}
