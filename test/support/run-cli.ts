// Runs the `hetao` CLI in a child process, as an officer would from a shell: compiled once for the
// run by the global setup (test/global-setup.ts), or from source through tsx where there is none.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inject } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';

/** tsx's loader by absolute URL, so the child may run in any working directory. */
export const TSX_LOADER = pathToFileURL(path.join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** Node arguments that run `gateway/<entry>` (e.g. 'cli/main', 'app/main'): the compiled .js if the run has one. */
export function nodeArgsFor(entry: string): string[] {
  const compiled = inject('compiledDir');
  return compiled ? [path.join(compiled, 'gateway', `${entry}.js`)] : ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'gateway', `${entry}.ts`)];
}

export function runHetao(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgsFor('cli/main'), ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
