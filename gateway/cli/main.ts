#!/usr/bin/env node
// The `hetao` command. `serve` runs the gateway; `policy …` are the security officers' tools;
// `decrypt` opens a downloaded envelope for its recipient or escrow holder; `audit verify` checks a
// regulator's audit export offline; `send`, `status`, `list` and `fetch` are a lab system's calls.
// `--help` prints usage and exits 0, a wrong invocation prints usage and exits 2 (usage.ts). Each
// command's module is loaded when that command runs: `--help` and usage errors load none of them.
import { loadConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { US_PERSON_CATEGORIES, type UsPersonCategory, type UsPersonCounts } from '../policy/manifest.js';
import { HelpRequested, parseCommandArgs, UsageError } from './command-args.js';
import { isCommand, isLabCommand, usageOf } from './usage.js';

const EXIT_USAGE = 2;

/** serve and worker take no arguments: anything given is a usage error rather than ignored. */
function noArguments(command: string, args: readonly string[]): void {
  const { positionals } = parseCommandArgs(args, {}, true);
  if (positionals.length > 0) throw new UsageError(`${command} takes no arguments`);
}

async function decrypt(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { key: { type: 'string' }, jwks: { type: 'string' }, output: { type: 'string', short: 'o' } });
  const [envelopeFile] = positionals;
  if (!envelopeFile || positionals.length > 1) throw new UsageError('decrypt needs one envelope file');
  if (!values.key) throw new UsageError('decrypt needs --key <private key PEM, or Crypt4GH secret key file>');
  const passphrase = process.env.C4GH_PASSPHRASE;
  const { decryptEnvelopeFile, decryptEnvelopeToFile } = await import('./decrypt-command.js');
  const options = { envelopeFile, keyFile: values.key, jwksFile: values.jwks, ...(passphrase === undefined ? {} : { crypt4ghPassphrase: passphrase }), note: (line: string) => process.stderr.write(`${line}\n`) };
  await (values.output ? decryptEnvelopeToFile({ ...options, outFile: values.output }) : decryptEnvelopeFile({ ...options, out: process.stdout }));
  return 0;
}

async function audit(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    jwks: { type: 'string' },
    witness: { type: 'string', multiple: true },
    transfer: { type: 'string' },
    'peer-export': { type: 'string' },
    'peer-jwks': { type: 'string' },
    'peer-witness': { type: 'string', multiple: true },
  });
  const [subcommand, exportFile, ...extra] = positionals;
  if (subcommand !== 'verify') throw new UsageError(subcommand ? `unknown audit command ${subcommand}` : 'audit needs a command: verify');
  if (!exportFile || extra.length > 0) throw new UsageError('audit verify needs one export file');
  if (!values.jwks) throw new UsageError('audit verify needs --jwks <gateway JWKS>');
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const peerExport = values['peer-export'];
  if ((values.transfer === undefined) !== (peerExport === undefined) || (peerExport !== undefined && !values['peer-jwks'])) {
    throw new UsageError('a transfer across the channel is verified with --transfer <id> --peer-export <the other side\'s export> --peer-jwks <its JWKS>');
  }
  const { verifyAuditExportFile } = await import('./audit-command.js');
  await verifyAuditExportFile({ exportFile, jwksFile: values.jwks, ...(values.witness ? { witnesses: values.witness } : {}), out });
  if (values.transfer === undefined || peerExport === undefined || !values['peer-jwks']) return 0;
  out(`the other side's export ${peerExport}:`);
  await verifyAuditExportFile({ exportFile: peerExport, jwksFile: values['peer-jwks'], ...(values['peer-witness'] ? { witnesses: values['peer-witness'] } : {}), out: (line) => out(`  ${line}`) });
  const { verifyTransferLoop } = await import('./verify-transfer-loop.js');
  await verifyTransferLoop({ transferId: values.transfer, exportFile, peerExportFile: peerExport, out });
  return 0;
}

async function db(args: readonly string[]): Promise<number> {
  const { positionals } = parseCommandArgs(args, {});
  const [subcommand, ...extra] = positionals;
  if (subcommand !== 'migrate' && subcommand !== 'status') throw new UsageError(subcommand ? `unknown db command ${subcommand}` : 'db needs a command: migrate or status');
  if (extra.length > 0) throw new UsageError(`db ${subcommand} takes no arguments`);
  const config = loadConfig(process.env);
  if (!config.database) throw new GatewayError('ERR_CONFIG_INVALID', 'hetao db needs HETAO_DATABASE_URL (shared mode); the embedded mode keeps its records in files');
  const { runDatabaseCommand } = await import('./db-command.js');
  return runDatabaseCommand(subcommand, config.database, (line) => process.stdout.write(`${line}\n`));
}

async function policy(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    dir: { type: 'string' },
    registry: { type: 'string' },
    strict: { type: 'boolean', default: false },
    from: { type: 'string' },
    at: { type: 'string' },
    'near-misses': { type: 'string', default: '5' },
    'us-persons-before': { type: 'string' },
  });
  const [subcommand, ...rest] = positionals;
  if (subcommand !== 'lint' && subcommand !== 'test' && subcommand !== 'explain' && subcommand !== 'matrix') {
    throw new UsageError(subcommand ? `unknown policy command ${subcommand}` : 'policy needs a command: lint, test, explain or matrix');
  }
  if (subcommand !== 'explain' && rest.length > 0) throw new UsageError(`policy ${subcommand} takes no file`);
  const config = loadConfig(process.env);
  const options = {
    dir: values.dir ?? config.policyDir,
    registryFile: values.registry ?? config.registryFile,
    strict: values.strict ?? false,
    out: (line: string) => process.stdout.write(`${line}\n`),
  };
  const { explainManifest, lintPolicies, printTransferMatrix, testPolicies } = await import('./policy-commands.js');
  if (subcommand === 'lint') return lintPolicies(options);
  if (subcommand === 'test') return testPolicies(options);
  if (subcommand === 'matrix') return printTransferMatrix(options);
  const [manifestFile] = rest;
  if (!manifestFile || rest.length > 1) throw new UsageError('policy explain needs one manifest file');
  if (!values.from) throw new UsageError('policy explain needs --from <institution>');
  const at = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(at.getTime())) throw new UsageError(`--at ${values.at} is not a time`);
  const before = values['us-persons-before'];
  return explainManifest({ ...options, manifestFile, from: values.from, at, nearMisses: Number(values['near-misses']), ...(before === undefined ? {} : { usPersonsBefore: parseUsPersons(before) }) });
}

/** `genomic=60,health=10`: the US persons per category a pair carried in the 12 months before. */
function parseUsPersons(text: string): UsPersonCounts {
  const counts = Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, 0])) as Record<UsPersonCategory, number>;
  for (const pair of text.split(',').filter((part) => part.trim() !== '')) {
    const [category, value] = pair.split('=').map((part) => part.trim());
    const count = Number(value);
    if (!(US_PERSON_CATEGORIES as readonly string[]).includes(category ?? '') || !Number.isSafeInteger(count) || count < 0) {
      throw new UsageError(`--us-persons-before ${text}: give category=count pairs, categories ${US_PERSON_CATEGORIES.join(', ')}`);
    }
    counts[category as UsPersonCategory] = count;
  }
  return counts;
}

/** `hetao help [command]`, `hetao --help`, `hetao -h`. */
function help(args: readonly string[]): number {
  const [topic] = args;
  if (topic !== undefined && !isCommand(topic)) throw new UsageError(`unknown command ${topic}`);
  process.stdout.write(`${usageOf(topic)}\n`);
  return 0;
}

async function runCommand(command: string, args: readonly string[]): Promise<number> {
  switch (command) {
    case 'serve':
      noArguments(command, args);
      await import('../app/main.js');
      return -1; // the server keeps the process alive and exits by itself
    case 'worker':
      noArguments(command, args);
      // As app/main.ts does for the gateway: the AWS SDK's Node 22 notice, not news here (documented switch).
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      await import('../app/worker-main.js');
      return -1; // the workers keep the process alive and exit by themselves
    case 'decrypt':
      return decrypt(args);
    case 'audit':
      return audit(args);
    case 'db':
      return db(args);
    case 'policy':
      return policy(args);
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

async function run(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    try {
      return help(args);
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n${usageOf()}\n`);
      return EXIT_USAGE;
    }
  }
  if (isLabCommand(command)) return (await import('./lab-commands.js')).runLabCommand(command, args, { env: process.env, stdout: process.stdout, stderr: process.stderr });
  try {
    if (command === undefined) throw new UsageError('no command given');
    return await runCommand(command, args);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(`${usageOf(command)}\n`);
      return 0;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${usageOf(command)}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

/** What the operator reads when a command fails: the code and message, never a stack for expected failures. */
function describeFailure(error: unknown): string[] {
  if (error instanceof GatewayError) {
    const problems = error.details?.problems as { file?: string; line?: number; path: string; message: string }[] | undefined;
    return [
      `${error.code}: ${error.message}`,
      ...(problems ?? []).map((p) => `  ${p.file ?? ''}${p.line === undefined ? '' : `:${p.line}`} ${p.path} ${p.message}`),
    ];
  }
  const { syscall, path: file, code } = error as NodeJS.ErrnoException;
  if (syscall && file) return [`cannot ${syscall} ${file}: ${code ?? (error as Error).message}`];
  return [(error as Error).stack ?? String(error)];
}

// A reader that stops early (`hetao list | head -1`) closes the pipe: stop quietly, as other tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    for (const line of describeFailure(error)) process.stderr.write(`${line}\n`);
    process.exitCode = 1;
  },
);
