// Documentation cannot drift from the code: every error code has a row in docs/errors.md, every
// configuration variable a row in the README's configuration table.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, PROJECT_ROOT } from '../gateway/config.js';
import { ERROR_CATALOG, ERROR_CODES } from '../gateway/errors.js';

const read = (file: string): string => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');

/** `| \`CODE\` | 403 | …` rows of a Markdown table. */
function tableRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const match = line.match(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|(.*)\|\s*$/);
    if (match?.[1] && match[2] !== undefined) rows.set(match[1], match[2].split('|').map((cell) => cell.trim()));
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = tableRows(read('docs/errors.md'));

  it.each(ERROR_CODES)('documents %s with its status', (code) => {
    expect(rows.has(code), `${code} has no row in docs/errors.md`).toBe(true);
    expect(rows.get(code)?.[0]).toBe(String(ERROR_CATALOG[code].status));
  });

  it('documents no code that does not exist', () => {
    expect([...rows.keys()].filter((code) => !(ERROR_CODES as string[]).includes(code))).toEqual([]);
  });
});

describe('README configuration table', () => {
  const rows = tableRows(read('README.md'));

  it.each(Object.keys(CONFIG_VARIABLES))('lists %s with its default', (name) => {
    expect(rows.has(name), `${name} has no row in README.md`).toBe(true);
    const documentedDefault = rows.get(name)?.[0]?.replace(/`/g, '');
    expect(documentedDefault).toBe(CONFIG_VARIABLES[name as keyof typeof CONFIG_VARIABLES].default);
  });
});
