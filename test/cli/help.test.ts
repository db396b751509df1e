// `hetao --help`, `hetao help <command>` and `<command> --help | -h` print the usage and exit 0; an
// unknown option prints the usage and exits 2. Never a stack trace, and `serve --help` starts nothing;
// nor when the reader of the output goes away early (EPIPE).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { nodeArgsFor, runHetao } from '../support/run-cli.js';

/** Every command as gateway/cli/main.ts dispatches it, with the words of its usage line. */
const COMMANDS: readonly { readonly args: readonly string[]; readonly usage: RegExp }[] = [
  { args: ['serve'], usage: /^ {2}hetao serve /m },
  { args: ['worker'], usage: /^ {2}hetao worker /m },
  { args: ['policy', 'lint'], usage: /^ {2}hetao policy lint /m },
  { args: ['policy', 'test'], usage: /^ {2}hetao policy test /m },
  { args: ['policy', 'explain'], usage: /^ {2}hetao policy explain <manifest\.json> --from /m },
  { args: ['decrypt'], usage: /^ {2}hetao decrypt <envelope> --key /m },
  { args: ['audit', 'verify'], usage: /^ {2}hetao audit verify <export\.ndjson> --jwks /m },
  { args: ['send'], usage: /^ {2}hetao send <file> --to /m },
  { args: ['status'], usage: /^ {2}hetao status <id> /m },
  { args: ['list'], usage: /^ {2}hetao list /m },
  { args: ['fetch'], usage: /^ {2}hetao fetch <id> -o <file> --key /m },
];

/** Each case starts several CLI processes: generous on a loaded 2-core machine. */
const TIMEOUT_MS = 300_000;

/** A stack frame line, as Node prints them. */
const STACK_FRAME = /^\s+at .+[(:]\d+/m;

function expectNoStack(output: { stdout: string; stderr: string }): void {
  expect(output.stderr).not.toMatch(STACK_FRAME);
  expect(output.stdout).not.toMatch(STACK_FRAME);
}

describe('hetao <command> --help', () => {
  for (const { args, usage } of COMMANDS) {
    const name = args.join(' ');
    it(`${name}: --help, -h and help ${args[0]} print its usage to stdout and exit 0; an unknown option exits 2 with the usage`, async () => {
      const [long, short, viaHelp, unknown] = await Promise.all([
        runHetao([...args, '--help']),
        runHetao([...args, '-h']),
        runHetao(['help', ...args]),
        runHetao([...args, '--no-such-option']),
      ]);
      for (const result of [long, short, viaHelp]) {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^usage:$/m);
        expect(result.stdout).toMatch(usage);
        expect(result.stderr).toBe('');
        expectNoStack(result);
      }
      expect(unknown.code, unknown.stderr).toBe(2);
      expect(unknown.stderr).toMatch(/^Unknown option '--no-such-option'$/m);
      expect(unknown.stderr).toMatch(usage);
      expect(unknown.stdout).toBe('');
      expectNoStack(unknown);
    }, TIMEOUT_MS);
  }
});

describe('hetao --help', () => {
  it('--help, -h and help list every command and exit 0', async () => {
    const results = await Promise.all([runHetao(['--help']), runHetao(['-h']), runHetao(['help'])]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      for (const { usage } of COMMANDS) expect(result.stdout).toMatch(usage);
      expectNoStack(result);
    }
  }, TIMEOUT_MS);

  it('no command, an unknown command or help for an unknown command: usage on stderr, exit 2', async () => {
    const results = await Promise.all([runHetao([]), runHetao(['frobnicate']), runHetao(['help', 'frobnicate']), runHetao(['policy']), runHetao(['audit', 'check'])]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/^usage:$/m);
      expect(result.stdout).toBe('');
      expectNoStack(result);
    }
    expect(results[1]?.stderr).toMatch(/^unknown command frobnicate$/m);
  }, TIMEOUT_MS);

  it('a missing file is named without a stack trace', async () => {
    const result = await runHetao(['decrypt', '/nonexistent/envelope.hetao', '--key', '/nonexistent/key.pem']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('/nonexistent/');
    expectNoStack(result);
  }, TIMEOUT_MS);
});

describe('a reader that stops early', () => {
  it('closing the pipe the usage is written to ends the command quietly, without a stack trace', async () => {
    const child = spawn(process.execPath, [...nodeArgsFor('cli/main'), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The read end is closed before the command writes: its write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  }, TIMEOUT_MS);
});
