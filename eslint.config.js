// ESLint flat config. `npm run lint` runs this and then scripts/check-import-cycles.mjs.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Modules that hold the gateway's logic: they take what they need as arguments. */
const CORE_MODULES = [
  'gateway/policy/**',
  'gateway/inspect/**',
  'gateway/envelope/**',
  'gateway/audit/**',
  'gateway/storage/**',
  'gateway/identity/**',
  'gateway/config.ts',
  'gateway/errors.ts',
];

/** The only gateway files that may touch process.env: config.ts reads it; main.ts and the CLI pass it to loadConfig. */
const ENV_READERS = ['gateway/config.ts', 'gateway/app/main.ts', 'gateway/cli/**'];

const INFRASTRUCTURE_PACKAGES = ['fastify', 'fastify/*', '@fastify/*', 'ioredis', 'ioredis/*', 'bullmq', 'bullmq/*'];
const INFRASTRUCTURE_MESSAGE =
  'core modules take what they need as arguments; Fastify, Redis and BullMQ stay in http/ and queue/';
const ENV_MESSAGE = 'only gateway/config.ts reads process.env: take a GatewayConfig (or the value you need) as an argument';

/** `import('ioredis')` and friends, which no-restricted-imports does not see. */
const DYNAMIC_INFRASTRUCTURE_IMPORT = {
  selector: 'ImportExpression[source.value=/^(fastify|@fastify\\/|ioredis|bullmq)(\\/|$)/]',
  message: INFRASTRUCTURE_MESSAGE,
};
/** `import { env } from 'node:process'`, the other way round process.env. */
const ENV_IMPORT = {
  selector: "ImportDeclaration[source.value=/^(node:)?process$/] > ImportSpecifier[imported.name='env']",
  message: ENV_MESSAGE,
};

export default defineConfig([
  globalIgnores(['dist/', 'node_modules/', 'coverage/', 'data/', '.test-build/', '.test-readme-*/']),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // `let server; … closure uses server?.x …; server = await listen()` is deliberate: a const
      // declared after the closure would throw (TDZ) if the closure ran first.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },

  // process.env: read in one place only.
  {
    files: ['gateway/**/*.ts'],
    ignores: ENV_READERS,
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: ENV_MESSAGE }],
      'no-restricted-syntax': ['error', ENV_IMPORT],
    },
  },

  // Core modules: no Fastify, Redis or BullMQ.
  {
    files: CORE_MODULES,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: INFRASTRUCTURE_PACKAGES, message: INFRASTRUCTURE_MESSAGE }] }],
    },
  },
  // (no-restricted-syntax options are replaced, not merged, by a later block: restate ENV_IMPORT here.)
  {
    files: CORE_MODULES,
    ignores: ENV_READERS,
    rules: {
      'no-restricted-syntax': ['error', ENV_IMPORT, DYNAMIC_INFRASTRUCTURE_IMPORT],
    },
  },
  {
    files: ['gateway/config.ts'],
    rules: {
      'no-restricted-syntax': ['error', DYNAMIC_INFRASTRUCTURE_IMPORT],
    },
  },
]);
