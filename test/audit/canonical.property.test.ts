// Property tests for the two pieces that stand in for a parse-and-reserialise on hot paths: the
// append-side RFC 8785 serializer (held equal to the `canonicalize` package) and the byte-level
// canonical scan of journal lines (accepts exactly what canonicalize produces for an entry).
import { isUtf8 } from 'node:buffer';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAuditEntry, type AuditEvent } from '../../gateway/audit/audit-entry.js';
import { toCanonicalJson } from '../../gateway/audit/canonical-json.js';
import { scanCanonicalEntry } from '../../gateway/audit/scan-canonical-entry.js';
import { GatewayError } from '../../gateway/errors.js';

const scan = (text: string): ReturnType<typeof scanCanonicalEntry> => {
  const bytes = Buffer.from(text, 'utf8');
  return scanCanonicalEntry(bytes, 0, bytes.length);
};

/** Strings with controls, quotes, backslashes, non-ASCII, astral characters and U+E000-area characters. */
const text = fc.string({
  unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0001', '\u001f', '\u007f', 'é', '\u2028', '\ue000', '😀', 'a', 'Z', ' '), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 12,
});
const detailValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const event: fc.Arbitrary<AuditEvent> = fc.record(
  {
    type: fc.constantFrom('transfer.created', 'policy.reloaded', 'transfer.state-changed'),
    actor: fc.record({ kind: fc.constantFrom('institution', 'person', 'gateway'), id: text.filter((s) => s.length > 0) }),
    subject: text.filter((s) => s.length > 0),
    hashes: fc.record({ manifest: hex64, plaintext: hex64, envelope: hex64 }, { requiredKeys: [] }),
    details: fc.dictionary(text, detailValue, { maxKeys: 5 }),
  },
  { requiredKeys: ['type', 'actor'] },
) as fc.Arbitrary<AuditEvent>;
const seq = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const time = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString());

describe('toCanonicalJson', () => {
  it('equals the canonicalize package on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(toCanonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500 },
    );
  });

  it('equals it on objects with awkward keys (UTF-16 order differs from code point order)', () => {
    fc.assert(
      fc.property(fc.dictionary(text, detailValue, { maxKeys: 8 }), (value) => {
        expect(toCanonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what JSON cannot carry', () => {
    expect(() => toCanonicalJson({ a: Number.NaN })).toThrow();
    expect(() => toCanonicalJson([Infinity])).toThrow();
    expect(() => toCanonicalJson({ a: 1n })).toThrow();
  });
});

describe('encodeAuditEntry', () => {
  it('writes exactly canonicalize({ ...event, seq, time }), and the scan reads it back', () => {
    fc.assert(
      fc.property(event, seq, time, (e, s, t) => {
        let bytes: Buffer;
        try {
          bytes = encodeAuditEntry(s, t, e);
        } catch (error) {
          // Only what JSON cannot carry canonically (lone surrogates) or an entry over 8 KiB may be refused.
          expect((error as GatewayError).code).toBe('ERR_AUDIT_EVENT_INVALID');
          let reference: string | undefined;
          try {
            reference = canonicalize({ ...e, seq: s, time: t });
          } catch {
            return;
          }
          expect(Buffer.byteLength(reference ?? '')).toBeGreaterThan(8192);
          return;
        }
        expect(bytes.toString('utf8')).toBe(canonicalize({ ...e, seq: s, time: t }));
        expect(scanCanonicalEntry(bytes, 0, bytes.length)).toEqual({ seq: s, time: t, subject: e.subject });
      }),
      { numRuns: 500 },
    );
  });

  it('refuses events of the wrong shape, naming the problem', () => {
    const good: AuditEvent = { type: 'transfer.created', actor: { kind: 'institution', id: 'sz-hospital' } };
    const bad: unknown[] = [
      { ...good, type: 'Transfer Created' },
      { ...good, actor: { kind: 'robot', id: 'x' } },
      { ...good, actor: { kind: 'person', id: '' } },
      { ...good, hashes: { manifest: 'ABC' } },
      { ...good, hashes: { dataKey: 'a'.repeat(64) } },
      { ...good, dataKey: 'secret' },
      { ...good, details: { content: 'x'.repeat(9000) } },
      { ...good, details: { n: Number.NaN } },
      { ...good, details: { s: '\ud800' } },
      { ...good, details: [1, 2] },
    ];
    for (const e of bad) expect(() => encodeAuditEntry(0, '2025-01-01T00:00:00.000Z', e as AuditEvent)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_EVENT_INVALID' }));
  });
});

describe('scanCanonicalEntry', () => {
  const entry = { seq: 7, time: '2025-03-01T08:00:00.000Z', type: 'transfer.created', actor: { kind: 'institution', id: 'sz-hospital' }, subject: 'tr-1', details: { a: [1, 2.5, 'x'], b: { c: null, d: true } } };
  const good = canonicalize(entry) as string;

  it('accepts the canonical form and reads seq, time and subject', () => {
    expect(scan(good)).toEqual({ seq: 7, time: entry.time, subject: 'tr-1' });
  });

  it.each([
    ['whitespace', JSON.stringify(entry, null, 1)],
    ['a space after a colon', good.replace('"seq":7', '"seq": 7')],
    ['members out of order', good.replace('{"actor":{"id":"sz-hospital","kind":"institution"}', '{"actor":{"kind":"institution","id":"sz-hospital"}')],
    ['a repeated member', good.replace('"seq":7', '"seq":7,"seq":7').replace(',"seq":7,"seq":7', ',"seq":7,"seq":7')],
    ['a non-canonical number', good.replace('2.5', '2.50')],
    ['an exponent where none is due', good.replace('2.5', '25e-1')],
    ['a leading zero', good.replace('"seq":7', '"seq":07')],
    ['a needless escape', good.replace('sz-hospital', 'sz\\u002dhospital')],
    ['an escaped lone surrogate', good.replace('"x"', '"\\ud800"')],
    ['a \\u escape where \\n is due', good.replace('"x"', '"\\u000a"')],
    ['an uppercase \\u escape', good.replace('"x"', '"\\u001F"')],
    ['a raw control character', good.replace('"x"', '"\u0001"')],
    ['a negative seq', good.replace('"seq":7', '"seq":-7')],
    ['a fractional seq', good.replace('"seq":7', '"seq":7.5')],
    ['a time that is not ISO', good.replace('2025-03-01T08:00:00.000Z', 'March 1')],
    ['trailing data', `${good} `],
    ['an array', `[${good}]`],
    ['no seq', good.replace('"seq":7,', '')],
    ['truncation', good.slice(0, -3)],
  ])('rejects %s', (_what, line) => {
    expect(typeof scan(line)).toBe('string');
  });

  it('rejects invalid UTF-8', () => {
    const bytes = Buffer.from(good.replace('"x"', '"xx"'), 'utf8');
    bytes[bytes.indexOf('xx')] = 0xc3;
    expect(scanCanonicalEntry(bytes, 0, bytes.length)).toBe('not valid UTF-8');
  });

  it('agrees with parse-then-canonicalize on mutated lines', () => {
    fc.assert(
      fc.property(event, seq, time, fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), (e, s, t, at, byte) => {
        const bytes = Buffer.from(canonicalize({ ...e, seq: s, time: t }) as string, 'utf8');
        const i = at % bytes.length;
        bytes[i] = byte;
        let reference: boolean;
        try {
          const parsed = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
          reference =
            isUtf8(bytes) && // toString would quietly replace invalid sequences
            canonicalize(parsed) === bytes.toString('utf8') &&
            Number.isSafeInteger(parsed.seq) && (parsed.seq as number) >= 0 &&
            typeof parsed.time === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(parsed.time) &&
            typeof parsed.type === 'string' && typeof parsed.actor === 'object' && parsed.actor !== null && !Array.isArray(parsed.actor) &&
            (parsed.subject === undefined || typeof parsed.subject === 'string');
        } catch {
          reference = false;
        }
        expect(typeof scanCanonicalEntry(bytes, 0, bytes.length) !== 'string').toBe(reference);
      }),
      { numRuns: 1000 },
    );
  });
});
