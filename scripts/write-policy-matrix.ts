// Rewrites the generated table of docs/who-may-send-what.md from the policy set and its cases
// (`hetao policy matrix`); test/policy/default-policies.test.ts fails while the two differ.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../gateway/config.js';
import { printTransferMatrix } from '../gateway/cli/policy-commands.js';
import { MATRIX_BEGIN, MATRIX_END } from './policy-matrix-markers.js';

const doc = path.join(PROJECT_ROOT, 'docs/who-may-send-what.md');
const lines: string[] = [];
const code = await printTransferMatrix({
  dir: path.join(PROJECT_ROOT, 'policies'),
  registryFile: path.join(PROJECT_ROOT, 'policies/registry.yaml'),
  strict: false,
  out: (line) => lines.push(line),
});
if (code !== 0) throw new Error(`hetao policy matrix failed:\n${lines.join('\n')}`);
const text = await readFile(doc, 'utf8');
const begin = text.indexOf(MATRIX_BEGIN);
const end = text.indexOf(MATRIX_END);
if (begin === -1 || end < begin) throw new Error(`${doc} has no ${MATRIX_BEGIN} … ${MATRIX_END} block`);
await writeFile(doc, `${text.slice(0, begin + MATRIX_BEGIN.length)}\n${lines.join('\n')}\n${text.slice(end)}`);
process.stdout.write(`rewrote the table of ${path.relative(PROJECT_ROOT, doc)}\n`);
