// The RFC 8785 canonicaliser refuses what has no canonical form with a GatewayError (never a bare
// Error, never a stack overflow): lone surrogates (RFC 8785 §3.2.2.2, RFC 7493 §2.1), values nested
// past the bound, cycles; and so do the places manifests are hashed, whatever path they come by.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toCanonicalJson } from '../../gateway/audit/canonical-json.js';
import { JSON_MAX_DEPTH } from '../../gateway/input/json-bounds.js';
import { hashManifest, parseManifest, type Manifest } from '../../gateway/policy/manifest.js';
import { CORE_GENOMICS_MANIFEST } from '../support/manifests.js';

const gatewayError = (code: string) => expect.objectContaining({ name: 'GatewayError', code });

const manifest = CORE_GENOMICS_MANIFEST;

describe('toCanonicalJson', () => {
  it.each([
    ['a lone high surrogate', { a: 'x\ud800' }],
    ['a lone low surrogate', ['\udc00']],
    ['a reversed pair', '\ude00\ud83d'],
    ['a lone surrogate in a member name', { 'k\udbff': 1 }],
  ])('refuses %s with a GatewayError of the caller’s code', (_what, value) => {
    expect(() => toCanonicalJson(value)).toThrow(gatewayError('ERR_REQUEST_INVALID'));
    expect(() => toCanonicalJson(value, { code: 'ERR_AUDIT_EXPORT_INVALID' })).toThrow(gatewayError('ERR_AUDIT_EXPORT_INVALID'));
    expect(() => toCanonicalJson(value)).toThrow(/lone surrogate/);
  });

  it('refuses a million levels and a cycle, and ends a toJSON that returns itself, without exhausting the stack', () => {
    let deep: unknown = null;
    for (let i = 0; i < 1_000_000; i += 1) deep = [deep];
    expect(() => toCanonicalJson(deep)).toThrow(gatewayError('ERR_REQUEST_INVALID'));
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => toCanonicalJson(cycle)).toThrow(/nested deeper than 64 levels/);
    const selfish = { toJSON(): unknown {
      return selfish;
    } };
    // toJSON is applied once, as JSON.stringify does, so it cannot loop.
    expect(toCanonicalJson(selfish)).toBe(JSON.stringify(selfish));
  });

  it('serialises exactly the bound, and honours a tighter one', () => {
    let value: unknown = 1;
    for (let i = 0; i < JSON_MAX_DEPTH; i += 1) value = [value];
    expect(toCanonicalJson(value)).toBe(canonicalize(value));
    expect(() => toCanonicalJson([value])).toThrow(gatewayError('ERR_REQUEST_INVALID'));
    expect(() => toCanonicalJson([[[1]]], { maxDepth: 2 })).toThrow(/deeper than 2/);
  });

  it('equals the canonicalize package on well-formed text with pairs, escapes and look-alikes', () => {
    const unit = fc.constantFrom('\\', 'u', 'd', '8', '0', '"', '😀', '\ud83d\ude00', 'é', '\u2028', 'a');
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit, maxLength: 8 }), fc.string({ unit, maxLength: 12 }), { maxKeys: 5 }), (value) => {
        expect(toCanonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500 },
    );
  });
});

describe('manifests', () => {
  it('keep the hash they had under the canonicalize package', () => {
    const parsed = parseManifest(manifest);
    expect(hashManifest(parsed)).toBe(createHash('sha256').update(canonicalize(parsed) as string).digest('hex'));
  });

  it.each([
    ['a lone surrogate in a value', { ...manifest, project: { ...manifest.project, title: 'Joint \ud800' } }, '/project/title'],
    ['a lone surrogate in an unknown member name', { ...manifest, ['x\udc00']: 1 }, '/x\udc00'],
    ['nesting past the bound', { ...manifest, extra: JSON.parse(`${'['.repeat(JSON_MAX_DEPTH)}${']'.repeat(JSON_MAX_DEPTH)}`) as unknown }, '/extra/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0'],
  ])('with %s are refused as ERR_MANIFEST_INVALID, naming the path', (_what, body, path) => {
    expect(() => parseManifest(body)).toThrow(gatewayError('ERR_MANIFEST_INVALID'));
    try {
      parseManifest(body);
    } catch (error) {
      expect((error as { details: { problems: { path: string }[] } }).details.problems[0]?.path).toBe(path);
    }
  });

  it('nested 100 000 deep (as a file the CLI reads may be) are refused as ERR_MANIFEST_INVALID, not a stack overflow', () => {
    const body = JSON.parse(`{"extra":${'['.repeat(100_000)}${']'.repeat(100_000)}}`) as unknown;
    expect(() => parseManifest(body)).toThrow(gatewayError('ERR_MANIFEST_INVALID'));
  });

  it('that skipped parsing still cannot be hashed with a lone surrogate', () => {
    const unparsed = { ...manifest, purpose: '\udfff' } as unknown as Manifest;
    expect(() => hashManifest(unparsed)).toThrow(gatewayError('ERR_MANIFEST_INVALID'));
  });
});
