// Policy and registry YAML files nested past the JSON bound or holding lone surrogates are refused
// when they are loaded (ERR_POLICY_INVALID / ERR_REGISTRY_INVALID, with the file and line), the
// same way at start-up as on reload, never by a stack overflow or a bare Error from hashing.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseRegistry } from '../../gateway/identity/registry.js';
import { buildPolicySet, readPolicySources } from '../../gateway/policy/load-policy-set.js';
import { POLICY_DIR, REGISTRY_FILE } from '../support/dev-pki.js';

const deepFlow = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const deepBlock = (levels: number): string => `\n${Array.from({ length: levels }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n')} 1`;

const EDITS: [string, (text: string) => string, RegExp][] = [
  ['flow nesting past the bound', (text) => `${text}\nnotes: ${deepFlow(65)}\n`, /nests deeper than 64 levels/],
  ['block nesting 1 500 deep', (text) => `${text}\nnotes:${deepBlock(1500)}\n`, /nests deeper than 64 levels/],
  ['flow nesting 100 000 deep', (text) => `${text}\nnotes: ${deepFlow(100_000)}\n`, /nests deeper than 64 levels/],
];

describe('policy files', () => {
  it.each([
    ...EDITS,
    ['a lone surrogate in a value', (text: string) => text.replace('value: [vcf, fastq,', 'value: [vcf, "fa\\ud800stq",'), /lone surrogate \(U\+D800\)/],
    ['a lone surrogate in a key', (text: string) => text.replace('\n  genomicFormats:\n', '\n  "\\udc00": { value: 1, description: x, basis: y }\n  genomicFormats:\n'), /lone surrogate \(U\+DC00\)/],
  ])('with %s make the set invalid, naming the file', async (_what, edit, message) => {
    const sources = await readPolicySources(POLICY_DIR);
    const [first, ...rest] = sources;
    if (!first) throw new Error('no policy files');
    const { set, problems } = buildPolicySet([{ ...first, text: edit(first.text) }, ...rest], { dir: POLICY_DIR });
    expect(set).toBeUndefined();
    const errors = problems.filter((p) => p.severity === 'error');
    expect(errors, JSON.stringify(errors, null, 1)).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: `${POLICY_DIR}/${first.name}`, message: expect.stringMatching(message) });
    expect(errors[0]?.line).toBeGreaterThan(0);
  });
});

describe('the registry', () => {
  it.each([
    ...EDITS,
    ['a lone surrogate in a value', (text: string) => text.replace(/legalName: .*/, 'legalName: "Lok Ma Chau \\ud800"'), /lone surrogate \(U\+D800\)/],
  ])('with %s is refused as ERR_REGISTRY_INVALID', async (_what, edit, message) => {
    const text = edit(await readFile(REGISTRY_FILE, 'utf8'));
    expect(() => parseRegistry(Buffer.from(text), 'registry.yaml')).toThrow(expect.objectContaining({ name: 'GatewayError', code: 'ERR_REGISTRY_INVALID', message: expect.stringMatching(message) }));
  });
});
