#!/usr/bin/env node
// The `hetao` command. `serve` runs the gateway; `policy …` are the security officers' tools;
// `decrypt` opens a downloaded envelope for its recipient or escrow holder; `audit verify` checks a
// regulator's audit export offline; `send`, `status`, `list` and `fetch` are a lab system's calls.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { verifyAuditExportFile } from './audit-command.js';
import { decryptEnvelopeFile, decryptEnvelopeToFile } from './decrypt-command.js';
import { isLabCommand, runLabCommand } from './lab-commands.js';
import { explainManifest, lintPolicies, testPolicies } from './policy-commands.js';

const USAGE = `usage:
  hetao serve                                   run the gateway (configuration from the environment)
  hetao worker                                  run queued stages only (same configuration; needs REDIS_URL)
  hetao policy lint    [--dir D] [--registry F] [--strict]
  hetao policy test    [--dir D] [--registry F] [--strict]
  hetao policy explain <manifest.json> --from <institution> [--at ISO-time] [--dir D] [--registry F]
  hetao decrypt <envelope> --key <private key PEM> [--jwks <gateway JWKS>] [-o <file>]
  hetao audit verify <export.ndjson> --jwks <gateway JWKS>
  hetao send <file> --to <institution> --manifest <m.json> [--wait [--timeout S]] [--gateway URL] [--cert F --key F --ca F]
  hetao status <id> [--json] [--gateway URL] [--cert F --key F --ca F]
  hetao list [--as sender|recipient] [--status S] [--limit N] [--after ID] [--json] [--gateway URL] [--cert F --key F --ca F]
  hetao fetch <id> -o <file> --key <private key PEM> [--jwks <gateway JWKS>] [--gateway URL] [--cert F --tls-key F --ca F]

  --dir defaults to HETAO_POLICY_DIR (policies/), --registry to HETAO_REGISTRY_FILE (policies/registry.yaml).
  --strict makes lint fail on warnings and test fail on rules lacking an allow and a deny case.
  decrypt writes to -o only once the whole envelope has verified (else to stdout as it goes);
  without --jwks it accepts only envelopes signed by the development key in certs-dev/.
  audit verify checks every hash, proof and signature of an audit export offline; exit 1 names the first bad line.
  send/status/list/fetch call the gateway over mutual TLS: --gateway, --cert, --key (fetch: --tls-key), --ca default to
  HETAO_GATEWAY_URL (https://127.0.0.1:8443), HETAO_CLIENT_CERT, HETAO_CLIENT_KEY, HETAO_CLIENT_CA (the dev CA bundle).
  Exit codes: 0 ok, 1 failure, 2 usage, 3 denied by policy, 4 quarantined or failed.`;

async function run(argv: readonly string[]): Promise<number> {
  const [command, subcommand] = argv;
  if (command === 'serve') {
    await import('../main.js');
    return -1; // the server keeps the process alive and exits by itself
  }
  if (command === 'worker') {
    await import('../worker-main.js');
    return -1; // the workers keep the process alive and exit by themselves
  }
  if (isLabCommand(command)) return runLabCommand(command, argv.slice(1), { env: process.env, stdout: process.stdout, stderr: process.stderr, usage: USAGE });
  if (command === 'decrypt') {
    const { values, positionals } = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      options: { key: { type: 'string' }, jwks: { type: 'string' }, output: { type: 'string', short: 'o' } },
    });
    const [envelopeFile] = positionals;
    if (!envelopeFile || !values.key || positionals.length > 1) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    const options = { envelopeFile, keyFile: values.key, jwksFile: values.jwks, note: (line: string) => process.stderr.write(`${line}\n`) };
    await (values.output ? decryptEnvelopeToFile({ ...options, outFile: values.output }) : decryptEnvelopeFile({ ...options, out: process.stdout }));
    return 0;
  }
  if (command === 'audit') {
    const { values, positionals } = parseArgs({ args: argv.slice(2), allowPositionals: true, options: { jwks: { type: 'string' } } });
    const [exportFile] = positionals;
    if (subcommand !== 'verify' || !exportFile || !values.jwks || positionals.length > 1) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    return verifyAuditExportFile({ exportFile, jwksFile: values.jwks, out: (line) => process.stdout.write(`${line}\n`) });
  }
  if (command !== 'policy' || !subcommand) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: argv.slice(2),
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      registry: { type: 'string' },
      strict: { type: 'boolean', default: false },
      from: { type: 'string' },
      at: { type: 'string' },
      'near-misses': { type: 'string', default: '5' },
    },
  });
  const config = loadConfig(process.env);
  const options = {
    dir: values.dir ?? config.policyDir,
    registryFile: values.registry ?? config.registryFile,
    strict: values.strict ?? false,
    out: (line: string) => process.stdout.write(`${line}\n`),
  };
  switch (subcommand) {
    case 'lint':
      return lintPolicies(options);
    case 'test':
      return testPolicies(options);
    case 'explain': {
      const [manifestFile] = positionals;
      if (!manifestFile || !values.from) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
      }
      const at = values.at ? new Date(values.at) : new Date();
      if (Number.isNaN(at.getTime())) throw new GatewayError('ERR_REQUEST_INVALID', `--at ${values.at} is not a time`);
      return explainManifest({ ...options, manifestFile, from: values.from, at, nearMisses: Number(values['near-misses']) });
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof GatewayError) {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      const problems = error.details?.problems as { file?: string; line?: number; path: string; message: string }[] | undefined;
      for (const p of problems ?? []) process.stderr.write(`  ${p.file ?? ''}${p.line === undefined ? '' : `:${p.line}`} ${p.path} ${p.message}\n`);
    } else {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    }
    process.exitCode = 1;
  },
);
