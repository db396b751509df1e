// `hetao send | status | list | fetch`: a lab system's operator at a shell, on top of the client
// library in gateway/client/. Results go to stdout, progress and notes to stderr; exit codes tell
// scripts what happened (see LAB_EXIT).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { JSONWebKeySet } from 'jose';
import { PROJECT_ROOT } from '../config.js';
import { ClientCredentialsError, GatewayClientError, GatewayRequestError, TransferNotDownloadableError, WaitTimeoutError } from '../client/gateway-client-error.js';
import { createGatewayClient, type GatewayClient } from '../client/gateway-client.js';
import { createProgressDisplay, formatBytes, type ProgressDisplay, type ProgressOutput } from '../client/progress-display.js';
import { receiveTransfer, type ReceivedTransfer } from '../client/receive-transfer.js';
import { resumeFile, sendFile } from '../client/send-file.js';
import { isRejectedContent, isSettled, TRANSFER_STATUSES, type PolicyReason, type TransferStatus, type TransferView } from '../client/transfer-view.js';
import { GatewayError } from '../errors.js';
import { parseJsonText } from '../input/json-bounds.js';
import { HelpRequested, parseCommandArgs, UsageError } from './command-args.js';
import { usageOf } from './usage.js';

export const LAB_EXIT = { ok: 0, failure: 1, usage: 2, policyDenied: 3, contentRejected: 4 } as const;

export const DEFAULT_GATEWAY_URL = 'https://127.0.0.1:8443';
export const DEV_CA_BUNDLE = path.join(PROJECT_ROOT, 'certs-dev/zone-ca-bundle.dev-only.pem');


export interface LabIo {
  /** HETAO_GATEWAY_URL, HETAO_CLIENT_CERT, HETAO_CLIENT_KEY, HETAO_CLIENT_CA are read from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: ProgressOutput;
  /** Progress and notes; a TTY gets a progress bar. */
  readonly stderr: ProgressOutput;
}

const CONNECTION_OPTIONS = {
  gateway: { type: 'string' },
  cert: { type: 'string' },
  'tls-key': { type: 'string' },
  ca: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** send, status and list take the TLS key as --key too; fetch's --key is the decryption key. */
const CONNECTION_OPTIONS_WITH_KEY = { ...CONNECTION_OPTIONS, key: { type: 'string' } } as const satisfies ParseArgsConfig['options'];

interface ConnectionFlags {
  readonly gateway?: string | undefined;
  readonly cert?: string | undefined;
  /** The TLS client key: --tls-key, or --key for the commands whose --key means that (never fetch). */
  readonly tlsKey?: string | undefined;
  readonly ca?: string | undefined;
}

/** The connection flags of send, status and list, where --key is the TLS key. */
const withTlsKeyFlag = (values: { gateway?: string | undefined; cert?: string | undefined; key?: string | undefined; 'tls-key'?: string | undefined; ca?: string | undefined }): ConnectionFlags => ({
  gateway: values.gateway,
  cert: values.cert,
  tlsKey: values['tls-key'] ?? values.key,
  ca: values.ca,
});

async function readInput(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayError('ERR_REQUEST_INVALID', `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function readJsonInput(file: string, what: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = parseJsonText(await readInput(file, what), `${what} ${file}`); // depth and lone surrogates bounded, as the gateway does
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('ERR_REQUEST_INVALID', `${what} ${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatewayError('ERR_REQUEST_INVALID', `${what} ${file} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Flags first, then the environment; the CA falls back to the development bundle (with a note). */
async function connect(flags: ConnectionFlags, io: LabIo): Promise<GatewayClient> {
  const certFile = flags.cert ?? io.env.HETAO_CLIENT_CERT;
  const keyFile = flags.tlsKey ?? io.env.HETAO_CLIENT_KEY;
  if (!certFile || !keyFile) throw new UsageError('no client certificate: pass --cert and --key (fetch: --tls-key), or set HETAO_CLIENT_CERT and HETAO_CLIENT_KEY');
  const caFile = flags.ca ?? io.env.HETAO_CLIENT_CA;
  if (!caFile) io.stderr.write('note: trusting the DEVELOPMENT zone CA (certs-dev/); pass --ca or set HETAO_CLIENT_CA for a real gateway\n');
  const options = {
    baseUrl: flags.gateway ?? io.env.HETAO_GATEWAY_URL ?? DEFAULT_GATEWAY_URL,
    cert: await readInput(certFile, 'the client certificate'),
    key: await readInput(keyFile, 'the client key'),
    ca: await readInput(caFile ?? DEV_CA_BUNDLE, 'the zone CA bundle'),
  };
  try {
    return createGatewayClient(options);
  } catch (error) {
    if (!(error instanceof ClientCredentialsError)) throw error;
    const files = error.problem === 'unreadable-certificate' ? certFile : error.problem === 'unreadable-key' ? keyFile : `${certFile} and ${keyFile}`;
    throw new ClientCredentialsError(error.problem, `${files}: ${error.message}`);
  }
}

async function withClient(flags: ConnectionFlags, io: LabIo, work: (client: GatewayClient) => Promise<number>): Promise<number> {
  const client = await connect(flags, io);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

const say = (out: ProgressOutput, line = ''): void => {
  out.write(`${line}\n`);
};

/** Exit code for a transfer's status after the gateway has finished with it. */
function exitFor(status: string): number {
  if (isRejectedContent(status)) return LAB_EXIT.contentRejected;
  return status === 'cancelled' || status === 'expired' ? LAB_EXIT.failure : LAB_EXIT.ok;
}

function describeOutcome(record: TransferView): string[] {
  const lines = [`transfer ${record.id} ${record.status}`];
  if (record.status === 'quarantined') {
    lines.push('  held by the gateway for a security officer; the recipient cannot download it:');
    for (const reason of record.inspection?.reasons ?? []) lines.push(`  - ${reason}`);
  }
  if (record.status === 'failed') {
    const last = record.history.at(-1);
    const code = typeof last?.detail?.code === 'string' ? `: ${last.detail.code}` : '';
    lines.push(`  the gateway could not finish it (${last?.event ?? 'failed'}${code}); send it again or ask the gateway's operators`);
  }
  if (record.status === 'queued' || record.status === 'processing') {
    lines.push(`  the gateway finishes it in the background: follow it with \`hetao status ${record.id}\``);
  }
  return lines;
}

function positiveSeconds(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`${flag} takes a number of seconds`);
  return seconds;
}

async function send(args: string[], io: LabIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS_WITH_KEY,
    to: { type: 'string' },
    manifest: { type: 'string' },
    wait: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    resume: { type: 'string' },
  });
  const [file] = positionals;
  if (!file || positionals.length > 1 || (!values.manifest && !values.resume)) throw new UsageError('send needs a file and --manifest (or --resume <transfer id>)');
  if (values.resume && (values.manifest || values.to)) throw new UsageError('send --resume continues an existing transfer: no --manifest or --to');
  // Read before connecting: a bad manifest is refused without touching the network.
  const manifest = values.manifest ? await readJsonInput(values.manifest, 'the manifest') : undefined;
  if (manifest && !values.to && typeof manifest.recipient !== 'string') throw new UsageError('name the recipient with --to (the manifest has none)');
  const timeoutMs = positiveSeconds(values.timeout, 3600, '--timeout') * 1000;
  const onRetry = (attempt: number, delayMs: number, error: Error): void => {
    io.stderr.write(`\nthe upload was interrupted (${error.message}); attempt ${attempt} to resume in ${Math.round(delayMs / 1000)} s\n`);
  };

  return withClient(withTlsKeyFlag(values), io, async (client) => {
    const hashing = createProgressDisplay({ label: `hashing ${path.basename(file)}`, out: io.stderr });
    let uploading: ProgressDisplay | undefined;
    const uploaded = values.resume
      ? resumeFile(client, {
          id: values.resume,
          file,
          onHashProgress: hashing.update,
          onUploadProgress: (done, total) => {
            if (!uploading) {
              hashing.finish();
              say(io.stdout, `transfer ${values.resume ?? ''}: resuming at byte ${done} of ${total}`);
              uploading = createProgressDisplay({ label: `uploading ${values.resume ?? ''}`, out: io.stderr });
            }
            uploading.update(done, total);
          },
          onRetry,
        })
      : sendFile(client, {
          file,
          manifest: manifest ?? {},
          ...(values.to ? { recipient: values.to } : {}),
          onHashProgress: hashing.update,
          onManifest: ({ replaced }) => {
            hashing.finish();
            for (const { field, before, after } of replaced) {
              const source = field === 'recipient' ? '--to' : path.basename(file);
              io.stderr.write(`note: the manifest's ${field} ${JSON.stringify(before)} is replaced by ${JSON.stringify(after)} (from ${source})\n`);
            }
          },
          onCreated: (created) => {
            say(io.stdout, `transfer ${created.id} authorized (decision ${created.decision.decisionId}, policy revision ${created.decision.policyRevision.slice(0, 12)})`);
            uploading = createProgressDisplay({ label: `uploading ${created.id}`, out: io.stderr });
          },
          onUploadProgress: (done, total) => uploading?.update(done, total),
          onRetry,
        });
    const sent = await uploaded.catch((error: unknown) => {
      hashing.abandon();
      uploading?.abandon();
      throw error;
    });
    uploading?.finish();
    let record = sent.record;
    if (values.wait && !isSettled(record.status)) {
      say(io.stdout, `transfer ${record.id} ${record.status}; waiting until the gateway has finished with it`);
      let seen: string = record.status;
      record = await client.waitForStatus(record.id, {
        until: (polled) => isSettled(polled.status),
        intervalMs: 1000,
        timeoutMs,
        onPoll: (polled) => {
          if (polled.status !== seen) io.stderr.write(`status: ${(seen = polled.status)}\n`);
        },
      });
    }
    for (const line of describeOutcome(record)) say(io.stdout, line);
    return exitFor(record.status);
  });
}

function renderRecord(record: TransferView): string[] {
  const { manifest, decision, content } = record;
  const dataset = manifest.dataset as Record<string, unknown>;
  const level = (dataset.classification as { level?: string } | undefined)?.level ?? '?';
  const lines = [
    `transfer   ${record.id}`,
    `status     ${record.status}`,
    `route      ${record.sender} → ${record.recipient}`,
    `project    ${manifest.project.id} (${manifest.purpose})`,
    `dataset    ${dataset.category} ${dataset.format} ${level} ${String(dataset.deidentification)}, ${String(dataset.subjects)} subjects, ${formatBytes(dataset.sizeBytes as number)}`,
    `decision   ${decision.decisionId} (policy revision ${decision.policyRevision.slice(0, 12)}; rules ${decision.matchedRules.join(', ') || 'none'})`,
    `retained   until ${record.retentionUntil}`,
  ];
  if (content) {
    lines.push(`content    ${formatBytes(content.plaintextSize)}, sha256 ${content.plaintextSha256}`);
    lines.push(`holders    ${content.holders.map((holder) => `${holder.institution} (${holder.role})`).join(', ')}`);
  }
  for (const reason of record.inspection?.reasons ?? []) lines.push(`inspection ${reason}`);
  for (const receipt of record.receipts) lines.push(`receipt    ${receipt.at} by ${receipt.by}: ${receipt.matches ? 'matches' : 'DOES NOT MATCH'}`);
  lines.push('history');
  for (const entry of record.history) lines.push(`  ${entry.at}  ${entry.status.padEnd(12)} ${entry.event} by ${entry.by}`);
  return lines;
}

async function status(args: string[], io: LabIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { ...CONNECTION_OPTIONS_WITH_KEY, json: { type: 'boolean', default: false } });
  const [id] = positionals;
  if (!id || positionals.length > 1) throw new UsageError('status needs one transfer id');
  return withClient(withTlsKeyFlag(values), io, async (client) => {
    const record = await client.getTransfer(id);
    if (values.json) say(io.stdout, JSON.stringify(record, null, 2));
    else for (const line of renderRecord(record)) say(io.stdout, line);
    return LAB_EXIT.ok;
  });
}

function renderTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

async function list(args: string[], io: LabIo): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    { ...CONNECTION_OPTIONS_WITH_KEY, as: { type: 'string', default: 'sender' }, status: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' }, json: { type: 'boolean', default: false } },
    false,
  );
  const as = values.as;
  if (as !== 'sender' && as !== 'recipient') throw new UsageError('--as is sender or recipient');
  if (values.status !== undefined && !(TRANSFER_STATUSES as readonly string[]).includes(values.status)) throw new UsageError(`--status is one of ${TRANSFER_STATUSES.join(', ')}`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 200)) throw new UsageError('--limit is a whole number from 1 to 200');
  return withClient(withTlsKeyFlag(values), io, async (client) => {
    const page = await client.listTransfers({
      as,
      ...(values.status === undefined ? {} : { status: values.status as TransferStatus }),
      ...(values.after === undefined ? {} : { after: values.after }),
      ...(limit === undefined ? {} : { limit }),
    });
    if (values.json) {
      say(io.stdout, JSON.stringify(page, null, 2));
      return LAB_EXIT.ok;
    }
    if (page.transfers.length === 0) {
      say(io.stdout, `no transfers as ${as}${values.status ? ` with status ${values.status}` : ''}`);
      return LAB_EXIT.ok;
    }
    const rows = page.transfers.map((t) => [t.id, t.status, t.sender, t.recipient, formatBytes(t.manifest.dataset.sizeBytes), t.manifest.dataset.category, t.createdAt]);
    for (const line of renderTable([['ID', 'STATUS', 'FROM', 'TO', 'SIZE', 'CATEGORY', 'CREATED'], ...rows])) say(io.stdout, line);
    if (page.next) say(io.stdout, `more: hetao list --as ${as} --after ${page.next}`);
    return LAB_EXIT.ok;
  });
}

function describeReceipt(received: ReceivedTransfer): string {
  switch (received.receipt) {
    case 'posted':
      return `receipt posted: transfer ${received.record.id} is ${received.record.status}`;
    case 'already-received':
      return 'receipt: already confirmed earlier, not posted again';
    case 'not-recipient':
      return `receipt: not posted (opened as ${received.opened.holder.role} holder, only the recipient confirms)`;
    case 'not-requested':
      return 'receipt: not posted';
  }
}

async function fetchTransfer(args: string[], io: LabIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { ...CONNECTION_OPTIONS, key: { type: 'string' }, output: { type: 'string', short: 'o' }, jwks: { type: 'string' } });
  const [id] = positionals;
  if (!id || positionals.length > 1 || !values.output || !values.key) throw new UsageError('fetch needs a transfer id, -o <file> and --key <private key>');
  const privateKey = await readInput(values.key, 'the private key');
  const jwks = values.jwks ? ((await readJsonInput(values.jwks, 'the JWKS')) as unknown as JSONWebKeySet) : undefined;
  const outFile = values.output;
  return withClient({ gateway: values.gateway, cert: values.cert, tlsKey: values['tls-key'], ca: values.ca }, io, async (client) => {
    const downloading = createProgressDisplay({ label: `downloading ${id}`, out: io.stderr });
    const passphrase = io.env.C4GH_PASSPHRASE;
    const received = await receiveTransfer(client, { id, privateKey, outFile, ...(jwks ? { jwks } : {}), ...(passphrase === undefined ? {} : { crypt4ghPassphrase: passphrase }), onProgress: downloading.update }).catch((error: unknown) => {
      downloading.abandon();
      throw error;
    });
    downloading.finish();
    const { sender, holder, signingKid, format } = received.opened;
    say(io.stdout, `transfer ${id} from ${sender}: ${formatBytes(received.sizeBytes)} written to ${outFile}`);
    say(io.stdout, `  sha256 ${received.sha256} (matches the transfer record)`);
    const what = format === 'crypt4gh' ? 'Crypt4GH binding signed' : 'header signed';
    say(io.stdout, `  verified: ${what} by gateway key ${signingKid}, every segment authenticated, opened as ${holder.role} ${holder.institution}`);
    say(io.stdout, `  ${describeReceipt(received)}`);
    return LAB_EXIT.ok;
  });
}

function printDenial(error: GatewayClientError, out: ProgressOutput): void {
  say(out, `denied by policy (decision ${error.decisionId ?? '?'}, policy revision ${error.policyRevision ?? '?'}):`);
  const reasons: readonly PolicyReason[] = error.reasons;
  if (reasons.length === 0) say(out, `  - ${error.detail}`);
  // ruleId is null for the default deny and for the registry's checks of sender and recipient.
  const source = (reason: PolicyReason): string => reason.ruleId ?? (reason.code === 'no-rule-allows' ? 'default deny' : 'registry');
  for (const reason of reasons) say(out, `  - [${source(reason)}] ${reason.message} (${reason.code})`);
}

function printProblem(error: GatewayClientError, out: ProgressOutput): void {
  say(out, `${error.code} (HTTP ${error.status}): ${error.detail}`);
  const problems = error.extensions.problems;
  if (Array.isArray(problems)) {
    for (const problem of problems as { path?: string; message?: string }[]) say(out, `  ${problem.path ?? ''} ${problem.message ?? JSON.stringify(problem)}`);
  }
  if (error.requestId) say(out, `  (request ${error.requestId})`);
}

const RUNNERS: Readonly<Record<string, (args: string[], io: LabIo) => Promise<number>>> = { send, status, list, fetch: fetchTransfer };

/** Runs one lab command and returns its exit code; errors the operator can act on are printed, not thrown. */
export async function runLabCommand(command: string, args: string[], io: LabIo): Promise<number> {
  const runner = RUNNERS[command];
  try {
    if (!runner) throw new UsageError(`unknown command ${command}`);
    return await runner(args, io);
  } catch (error) {
    if (error instanceof HelpRequested) {
      io.stdout.write(`${usageOf(command)}\n`);
      return LAB_EXIT.ok;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message}\n${usageOf(command)}\n`);
      return LAB_EXIT.usage;
    }
    if (error instanceof ClientCredentialsError) {
      say(io.stderr, error.message);
      return LAB_EXIT.failure;
    }
    if (error instanceof GatewayClientError && error.isPolicyDenial) {
      printDenial(error, io.stderr);
      return LAB_EXIT.policyDenied;
    }
    if (error instanceof GatewayClientError) {
      printProblem(error, io.stderr);
      return LAB_EXIT.failure;
    }
    if (error instanceof TransferNotDownloadableError) {
      for (const line of describeOutcome(error.record)) say(io.stderr, line);
      say(io.stderr, error.message);
      return isRejectedContent(error.record.status) ? LAB_EXIT.contentRejected : LAB_EXIT.failure;
    }
    if (error instanceof WaitTimeoutError || error instanceof GatewayRequestError) {
      say(io.stderr, error.message);
      return LAB_EXIT.failure;
    }
    if (error instanceof GatewayError) {
      say(io.stderr, `${error.code}: ${error.message}`);
      return LAB_EXIT.failure;
    }
    const { syscall, path: file, code } = error as NodeJS.ErrnoException;
    if (syscall && file) {
      say(io.stderr, `cannot ${syscall} ${file}: ${code ?? (error as Error).message}`);
      return LAB_EXIT.failure;
    }
    throw error;
  }
}
