// ESLint flat config. `npm run lint` runs this and then scripts/check-import-cycles.mjs.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Modules that hold the gateway's logic: they take what they need as arguments. */
const CORE_MODULES = [
  'gateway/policy/**',
  'gateway/inspect/**',
  'gateway/envelope/**',
  'gateway/audit/**',
  'gateway/storage/**',
  'gateway/identity/**',
  'gateway/transfer/**',
  'gateway/records/**',
  'gateway/database/**',
  'gateway/delivery/**',
  'gateway/durable/**',
  'gateway/threads/**',
  'gateway/clock/**',
  'gateway/input/**',
  'gateway/reload/**',
  'gateway/witness/**',
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

/**
 * Each folder of gateway/ is one capability; other folders may import only these files of it (its
 * public surface). Its other files are internals it may change freely. A folder not listed exposes
 * nothing. app/ is the composition root: nothing imports it but the CLI, which runs its entries (scripts/check-import-cycles.mjs checks
 * the direction of every folder-to-folder import).
 */
const PUBLIC_SURFACE = {
  app: ['main', 'worker-main'],
  audit: ['audit-entry', 'audit-service', 'checkpoint-note', 'export-range', 'create-audit-journal', 'pg-audit-journal', 'refusal-journal', 'render-audit-csv', 'verify-export', 'canonical-json', 'merkle-hash', 'read-entries', 'verify-proof'],
  cli: [],
  client: ['gateway-client', 'gateway-client-error', 'progress-display', 'receive-transfer', 'send-file', 'transfer-view'],
  console: ['console-routes'],
  clock: ['schedule', 'when-aborted'],
  crypt4gh: ['crypt4gh-binding', 'crypt4gh-format', 'crypt4gh-keys', 'decrypt-crypt4gh-envelope', 'seal-crypt4gh-body'],
  database: ['database', 'migrate'],
  delivery: ['push-envelope'],
  durable: ['durable-files', 'read-json-file', 'steady-write-stream'],
  flows: ['count-flows', 'file-flow-counts', 'flow-counts', 'flows-service', 'pg-flow-counts'],
  envelope: ['byte-queue', 'decrypt-envelope', 'encrypt-envelope', 'envelope-framing', 'envelope-header', 'gateway-signer', 'jwk-thumbprint', 'read-envelope-header', 'seal-body', 'wrap-data-key'],
  http: ['api-app', 'ops-app'],
  identity: ['authenticate-connection', 'development-material', 'registry', 'require-role', 'resolve-principal', 'tls-material'],
  input: ['json-bounds', 'schema-problems', 'schema-validator', 'yaml-bounds'],
  inspect: ['create-inspector', 'inspection-report', 'judge-inspection'],
  ops: ['count-transfer-events', 'logger', 'metrics', 'report-storage-errors'],
  peering: ['forward-record', 'forward-transfer', 'inbound-transfers', 'peer-client', 'peer-directories', 'peer-keys', 'peer-receipts', 'peering-service', 'remote-institutions', 'signed-directory'],
  'policy-history': ['diff-revisions', 'file-policy-history', 'pg-policy-history', 'policy-history', 'record-policy-reloads'],
  policy: ['carried-window', 'check-policy-files', 'decide-transfer', 'decision-input', 'evaluate-policy', 'explain-policy', 'load-policy-set', 'manifest', 'policy-file', 'policy-service', 'run-policy-cases', 'transfer-matrix'],
  queue: ['bullmq-stage-queue', 'stage-queue'],
  records: ['file-record-store', 'pg-record-store'],
  serial: ['one-at-a-time'],
  reload: ['reload-audit', 'reloadable'],
  storage: ['filesystem-store', 'object-store', 's3-store', 'storage-errors'],
  threads: ['thread-entry', 'thread-pool'],
  witness: ['checkpoint-submitter', 'cosignature', 'file-witness-state', 'pg-witness-state', 'signed-note', 'tlog-witness', 'witness-service', 'witness-state'],
  transfer: [
    'bulk-lane',
    'caller',
    'envelope-objects',
    'record-changes',
    'record-store',
    'resumable-uploads',
    'sealing-threads',
    'stage-coordinator',
    'stage-handlers',
    'stage-results',
    'stored-content',
    'transfer-audit-events',
    'transfer-events',
    'transfer-record',
    'transfer-service',
    'upload-transfer',
  ],
};

/** `local/folder-surface`: an import into another folder of gateway/ names a file of its public surface. */
const folderSurfaceRule = {
  meta: { type: 'problem', schema: [], messages: { internal: "{{file}} is internal to gateway/{{folder}}/; import one of its public files ({{surface}}) or add this one to PUBLIC_SURFACE in eslint.config.js if it is meant to be public" } },
  create(context) {
    const here = path.relative(path.join(PROJECT_DIR, 'gateway'), context.filename).split(path.sep);
    if (here[0] === '..' || here.length < 2) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = path.relative(path.join(PROJECT_DIR, 'gateway'), path.resolve(path.dirname(context.filename), source)).split(path.sep);
      if (target[0] === '..' || target.length < 2 || target[0] === here[0]) return;
      const [folder] = target;
      const file = path.basename(source).replace(/\.[jt]s$/, '');
      const surface = PUBLIC_SURFACE[folder] ?? [];
      if (target.length !== 2 || !surface.includes(file)) {
        context.report({ node, messageId: 'internal', data: { file: target.join('/'), folder, surface: surface.join(', ') || 'none' } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
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

  // Folders import each other's public files only.
  {
    files: ['gateway/**/*.ts'],
    plugins: { local: { rules: { 'folder-surface': folderSurfaceRule } } },
    rules: { 'local/folder-surface': 'error' },
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
