// Documentation cannot drift from the code: every error code has a row in docs/errors.md, every
// configuration variable a row in docs/configuration.md. And it stays in the repository: every link
// in the README and docs/ is relative and points to a file that exists, and the README maps every
// document in docs/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

describe('docs/configuration.md', () => {
  const rows = tableRows(read('docs/configuration.md'));

  it.each(Object.keys(CONFIG_VARIABLES))('lists %s with its default', (name) => {
    expect(rows.has(name), `${name} has no row in docs/configuration.md`).toBe(true);
    const documentedDefault = rows.get(name)?.[0]?.replace(/`/g, '');
    expect(documentedDefault).toBe(CONFIG_VARIABLES[name as keyof typeof CONFIG_VARIABLES].default);
  });
});

const DOCUMENTS = ['README.md', ...readdirSync(path.join(PROJECT_ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/**
 * Every link target of a Markdown text: inline links and images, reference definitions and
 * autolinks, plus bare web addresses (GitHub renders those as links too). Code is not prose: fenced
 * blocks and code spans are left out.
 */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^([ \t]*)(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\2[ \t]*$/gm, '').replace(/(`+)[^`]*?\1/g, '');
  const targets: string[] = [];
  for (const match of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(match[1] ?? '');
  for (const match of prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(match[1] ?? '');
  for (const match of prose.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]*)>/gi)) targets.push(match[1] ?? '');
  for (const match of prose.matchAll(/(?<![(<\w])(?:https?:\/\/|www\.)[^\s)>\]]+/gi)) targets.push(match[0]);
  return [...new Set(targets)];
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const prose = markdown.replace(/^([ \t]*)(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\2[ \t]*$/gm, '');
  for (const match of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = (match[1] ?? '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    let anchor = slug;
    for (let n = 1; anchors.has(anchor); n += 1) anchor = `${slug}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** Why a link from `file` to `target` leaves the repository or leads nowhere; undefined when it is fine. */
function brokenLink(file: string, target: string): string | undefined {
  if (target === '') return 'empty target';
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//') || target.startsWith('www.')) return 'leaves the repository';
  if (target.startsWith('/')) return 'absolute: it would resolve outside the repository on a forge';
  const [pathPart = '', anchor] = target.split('#');
  const resolved = pathPart === '' ? path.join(PROJECT_ROOT, file) : path.resolve(path.dirname(path.join(PROJECT_ROOT, file)), decodeURIComponent(pathPart));
  const inside = path.relative(PROJECT_ROOT, resolved);
  if (inside.startsWith('..') || path.isAbsolute(inside)) return 'points outside the repository';
  if (!existsSync(resolved)) return 'no such file';
  if (anchor !== undefined && resolved.endsWith('.md') && !headingAnchors(readFileSync(resolved, 'utf8')).has(anchor)) return 'no such heading';
  return undefined;
}

describe('links in the README and docs/', () => {
  it.each(DOCUMENTS)('every link in %s is relative and points to a file (and heading) of the repository', (file) => {
    const broken = linkTargets(read(file))
      .map((target) => ({ target, problem: brokenLink(file, target) }))
      .filter((link) => link.problem !== undefined);
    expect(broken).toEqual([]);
  });

  it('finds the links it must judge (a checker that sees nothing passes everything)', () => {
    const sample = [
      '[a](docs/api.md) ![b](x.png "t") <https://example.org/x> see https://example.org/y.',
      '[ref]: http://example.org/z',
      '`[not](a-link.md)` and',
      '```sh',
      'curl https://127.0.0.1:8443/v1/whoami',
      '```',
    ].join('\n');
    expect(linkTargets(sample)).toEqual(['docs/api.md', 'x.png', 'http://example.org/z', 'https://example.org/x', 'https://example.org/y.']);
    expect(brokenLink('README.md', 'docs/api.md#who-may-call-what')).toBeUndefined();
    expect(brokenLink('docs/api.md', '../certs-dev/README.md')).toBeUndefined();
    expect(brokenLink('docs/api.md', '#operations-listener')).toBeUndefined();
    expect(brokenLink('README.md', 'https://example.org/')).toBe('leaves the repository');
    expect(brokenLink('README.md', '../shared/design/ARCHITECTURE.md')).toBe('points outside the repository');
    expect(brokenLink('README.md', 'docs/no-such-page.md')).toBe('no such file');
    expect(brokenLink('README.md', '/docs/api.md')).toMatch(/^absolute/);
    expect(brokenLink('docs/api.md', '#no-such-section')).toBe('no such heading');
    expect(brokenLink('docs/cli.md', 'configuration.md#client-settings-the-hetao-cli')).toBeUndefined();
  });

  it('the README maps every document in docs/', () => {
    const readme = read('README.md');
    const unmapped = DOCUMENTS.filter((file) => file !== 'README.md' && !readme.includes(`](${file})`));
    expect(unmapped).toEqual([]);
  });
});
