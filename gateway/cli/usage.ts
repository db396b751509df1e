// What `hetao --help`, `hetao help <command>` and `hetao <command> --help` print: one usage entry
// per command, and the whole list with the notes that apply to several commands.

const CONNECTION_NOTE = `  send/status/list/fetch call the gateway over mutual TLS: --gateway, --cert, --key (fetch: --tls-key), --ca default to
  HETAO_GATEWAY_URL (https://127.0.0.1:8443), HETAO_CLIENT_CERT, HETAO_CLIENT_KEY, HETAO_CLIENT_CA (the dev CA bundle).
  fetch's --key is the recipient's (or escrow holder's) decryption key, never the TLS key.`;

const EXIT_NOTE = '  Exit codes: 0 ok, 1 failure, 2 usage, 3 denied by policy, 4 quarantined or failed.';

const POLICY_NOTE = `  --dir defaults to HETAO_POLICY_DIR (policies/), --registry to HETAO_REGISTRY_FILE (policies/registry.yaml).
  --strict makes lint fail on warnings and test fail on rules lacking an allow and a deny case.`;

interface CommandUsage {
  readonly lines: readonly string[];
  readonly notes: readonly string[];
}

const COMMANDS: Readonly<Record<string, CommandUsage>> = {
  serve: { lines: ['hetao serve                                   run the gateway (configuration from the environment)'], notes: [] },
  worker: { lines: ['hetao worker                                  run queued stages only (same configuration; needs REDIS_URL)'], notes: [] },
  policy: {
    lines: [
      'hetao policy lint    [--dir D] [--registry F] [--strict]',
      'hetao policy test    [--dir D] [--registry F] [--strict]',
      'hetao policy matrix  [--dir D] [--registry F]   who may send what to whom, from the cases (Markdown)',
      'hetao policy explain <manifest.json> --from <institution> [--at ISO-time] [--us-persons-before genomic=60,…] [--dir D] [--registry F]',
    ],
    notes: [POLICY_NOTE],
  },
  decrypt: {
    lines: ['hetao decrypt <envelope> --key <private key PEM | Crypt4GH secret key> [--jwks <gateway JWKS>] [-o <file>]'],
    notes: [
      `  decrypt writes to -o only once the whole envelope has verified (else to stdout as it goes);
  without --jwks it accepts only envelopes signed by the development key in certs-dev/.
  A transfer stored as Crypt4GH takes the holder's Crypt4GH secret key file (passphrase in C4GH_PASSPHRASE).`,
    ],
  },
  db: {
    lines: ['hetao db migrate                              apply the database migrations this version needs (HETAO_DATABASE_URL)', 'hetao db status                               say whether the database is at this version\'s schema'],
    notes: ['  Shared mode only. migrate is safe to run from several hosts at once and applies nothing twice; a gateway refuses a database not at its schema.'],
  },
  audit: {
    lines: [
      'hetao audit verify <export.ndjson> --jwks <gateway JWKS> [--witness <peer vkey>]…',
      '                   [--transfer <id> --peer-export <other side export> --peer-jwks <its JWKS> [--peer-witness <vkey>]…]',
    ],
    notes: [
      '  audit verify checks every hash, proof and signature of an audit export offline; exit 1 names the first bad line.\n  --witness (a C2SP vkey, repeatable) requires a checkpoint cosigned by that witness, consistent with the export.\n  --transfer with the other side\'s export also verifies that one and joins the transfer\'s entries in both logs: each side\'s decision, and the receipt (or refusal) the sending side holds proof of.',
    ],
  },
  send: {
    lines: [
      'hetao send <file> --to <institution> --manifest <m.json> [--wait [--timeout S]] [--gateway URL] [--cert F --key F --ca F]',
      'hetao send <file> --resume <transfer id> [--wait [--timeout S]] [--gateway URL] [--cert F --key F --ca F]',
    ],
    notes: [
      CONNECTION_NOTE,
      '  The upload is resumable (tus): after a network cut it waits and continues from what the gateway has; --resume continues an earlier send of the same file (same size and SHA-256).',
      EXIT_NOTE,
    ],
  },
  status: { lines: ['hetao status <id> [--json] [--gateway URL] [--cert F --key F --ca F]'], notes: [CONNECTION_NOTE, EXIT_NOTE] },
  list: {
    lines: ['hetao list [--as sender|recipient] [--status S] [--limit N] [--after ID] [--json] [--gateway URL] [--cert F --key F --ca F]'],
    notes: [CONNECTION_NOTE, EXIT_NOTE],
  },
  fetch: {
    lines: ['hetao fetch <id> -o <file> --key <private key PEM> [--jwks <gateway JWKS>] [--gateway URL] [--cert F --tls-key F --ca F]'],
    notes: [CONNECTION_NOTE, EXIT_NOTE],
  },
};

/** The command names `hetao` knows, in the order the usage lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** The lab system's calls (lab-commands.ts), told apart before that module and its client are loaded. */
const LAB_COMMAND_NAMES: ReadonlySet<string> = new Set(['send', 'status', 'list', 'fetch']);

export function isLabCommand(command: string | undefined): command is string {
  return command !== undefined && LAB_COMMAND_NAMES.has(command);
}

export function isCommand(name: string | undefined): name is string {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/** The usage of one command, or of all of them (with every note once) when `command` is not one. */
export function usageOf(command?: string): string {
  const chosen = isCommand(command) ? [COMMANDS[command] as CommandUsage] : Object.values(COMMANDS);
  const lines = chosen.flatMap((entry) => entry.lines.map((line) => `  ${line}`));
  const notes = [...new Set(chosen.flatMap((entry) => entry.notes))];
  const more = isCommand(command) ? [] : ['  hetao help <command> (or hetao <command> --help) shows one command.'];
  return ['usage:', ...lines, '', ...notes, ...more].join('\n');
}
