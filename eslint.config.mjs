// Lint rules that guard Tideway's structure: type-only imports, no dropped promises, and the
// determinism boundary of workflows/ enforced rather than remembered.
import tseslint from 'typescript-eslint';

// The config/ modules workflow code may import values from: names and runTask's Temporal contract
// (its messages and search attributes). They stay bundle-safe themselves (rule below).
const WORKFLOW_SAFE = ['names', 'messages', 'search-attributes', 'bulk', 'lease', 'flow'];

const CONFIG_GROUND = {
  group: ['../workflows/*', '../activities/*', '../workers/*', '../scaler/*', '../api/*', '../cli/*', '../temporal/*', '../exports/*'],
  message: 'config/ is the ground: it may import only config/ and libraries.',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', 'workflows/.replay-mutant/**'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `typeof import(...)` stays allowed: it types lazily loaded ES modules (scaler/actuators/kubernetes.ts).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Settings are read once, by config/settings.ts: everything else takes `project.settings`.
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message:
            'read settings from project.settings (config/settings.ts), not process.env; passing it to a child process needs an eslint-disable with the reason',
        },
      ],
    },
  },
  {
    // The settings module, the loader that merges the config under the environment, and code that
    // is not the platform (tests, benchmarks, scripts, examples) may read the environment.
    files: ['config/settings.ts', 'config/load.ts', 'test/**', 'bench/**', 'scripts/**', 'examples/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // Workflow code is bundled into Temporal's deterministic sandbox: no Node built-ins, no side-effect
    // modules; from activities/ and config/ only types, except the bundle-safe modules (WORKFLOW_SAFE).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net'],
              message: 'workflows/ must stay deterministic: no Node built-ins.',
            },
            {
              group: ['../api/*', '../scaler/*', '../cli/*', '../workers/*', '../temporal/*'],
              message: 'workflows/ may not import api, scaler, cli, workers or temporal.',
            },
            {
              group: ['../activities/*', '../config/*', ...WORKFLOW_SAFE.map((m) => `!../config/${m}`)],
              allowTypeImports: true,
              message: `workflows/ may import only types from activities/ and config/ (values only from config/{${WORKFLOW_SAFE.join(',')}}).`,
            },
          ],
        },
      ],
    },
  },
  {
    // The ground (names, schemas, errors, settings, the project config) imports nothing above it.
    files: ['config/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [CONFIG_GROUND],
        },
      ],
    },
  },
  {
    // What workflow code may load must itself stay bundle-safe: no Node built-ins, no zod (it would
    // add ~0.9 MB to the bundle), from the rest of config/ only types.
    files: WORKFLOW_SAFE.map((m) => `config/${m}.ts`),
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'zod', allowTypeImports: true, message: 'a workflow-safe module must not load zod (types only).' }],
          patterns: [
            CONFIG_GROUND,
            {
              group: ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net'],
              message: 'workflow-safe modules must stay deterministic: no Node built-ins.',
            },
            {
              group: ['./*', ...WORKFLOW_SAFE.map((m) => `!./${m}`)],
              allowTypeImports: true,
              message: `workflow-safe modules may import values only from config/{${WORKFLOW_SAFE.join(',')}}.`,
            },
          ],
        },
      ],
    },
  },
  {
    // Workers and the scaler run without the HTTP layer: it plugs into them, never the other way.
    files: ['workers/**/*.ts', 'scaler/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/api/http/*', '**/api/http'], message: 'workers/ and scaler/ never import the HTTP layer (api/http).' },
            { group: ['../cli/*', '../../cli/*'], message: 'workers/ and scaler/ never import the CLI.' },
          ],
        },
      ],
    },
  },
  {
    // Tests read arbitrary JSON (HTTP bodies, OpenAPI documents) where `any` is the honest type.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
