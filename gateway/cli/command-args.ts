// Parsing a command's arguments the same way for every `hetao` command: `--help`/`-h` anywhere
// before `--` asks for the usage, and an unknown option or a missing value is a usage error (exit 2
// with the usage), never a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Wrong invocation: the command prints its usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `--help` or `-h` was given: the command prints its usage to stdout and exits 0. */
export class HelpRequested extends Error {
  constructor() {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/**
 * node:util parseArgs (strict) with help and usage errors of our own.
 * @throws HelpRequested when the arguments hold --help or -h; UsageError for what parseArgs refuses.
 */
export function parseCommandArgs<T extends Options>(args: readonly string[], options: T, allowPositionals = true) {
  if (asksForHelp(args)) throw new HelpRequested();
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true });
  } catch (error) {
    if (!(error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw error;
    // parseArgs adds a hint about `--` that does not help here: keep its first sentence.
    throw new UsageError((error as Error).message.split('. To specify')[0] ?? (error as Error).message);
  }
}
