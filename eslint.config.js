import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The agent's layers (src/): a module imports only from its own directory and from lower
 * ranks, so the pure core never reaches an adapter and nothing reaches the composition root.
 *  -1  errors.ts                           typed errors, usable everywhere
 *   0  model, util, maglev                 plain types and pure helpers
 *   1  config, desired, ipam, exec, observability
 *   2  reconcile, k8s, dataplane, bgp, coexist, paths.ts   adapters
 *   3  agent, cli.ts                        composition root
 * Nothing in src/ imports the lab, the tests or the benches (they are not in the image).
 * test/unit/layers.test.ts shows each rule failing on a deliberate bad import.
 */
export const LAYERS = {
  'errors.ts': -1,
  model: 0, util: 0, maglev: 0,
  config: 1, desired: 1, ipam: 1, exec: 1, observability: 1,
  reconcile: 2, k8s: 2, dataplane: 2, bgp: 2, coexist: 2, 'paths.ts': 2,
  agent: 3, 'cli.ts': 3,
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A relative specifier that climbs to src/ and enters `name` (a directory or a root file). */
const reaches = (name) => (name.endsWith('.ts') ? `^(\\.\\./)+${escape(name.replace(/\.ts$/, '.js'))}$` : `^(\\.\\./)+${escape(name)}(/|\\.js$)`);
const outsideSrc = { regex: '^(\\.\\./)+(lab|test|bench|scripts)/', message: 'src/ is what the image ships: it never imports the lab, the tests or the benches.' };

function layerRules() {
  return Object.entries(LAYERS).map(([name, rank]) => {
    const banned = Object.entries(LAYERS).filter(([other, r]) => other !== name && r >= rank);
    return {
      files: [name.endsWith('.ts') ? `src/${name}` : `src/${name}/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              outsideSrc,
              ...banned.map(([other, r]) => ({ regex: reaches(other), message: `layer rule: src/${name} (rank ${rank}) may not import src/${other} (rank ${r}); see eslint.config.js.` })),
            ],
          },
        ],
      },
    };
  });
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '.vm-guest/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'src/cli.ts', 'src/agent/main.ts', 'lab/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  ...layerRules(),
);
