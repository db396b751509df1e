// Identifiers split across boundaries are found exactly once: across the caller's chunks at every split
// position, across the scanner's own 64 KiB windows at every offset, and (fast-check) for random text,
// a random position and random chunk sizes. Reports never carry an identifier's text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IdentifierKind, InspectionReport } from '../../gateway/inspect/inspection-report.js';
import { counts, hkidCheck, inspect, mainlandId } from './support.js';

const SAMPLES: readonly { readonly value: string; readonly kind: IdentifierKind }[] = [
  { value: mainlandId('440305', '19900307', '123'), kind: 'mainland-id' },
  { value: mainlandId('440305', '19900307', '123').slice(0, 17) + '0', kind: 'mainland-id-lookalike' },
  { value: 'A123456(3)', kind: 'hkid' },
  { value: `XA987654${hkidCheck('XA', '987654')}`, kind: 'hkid' },
  { value: '13812345678', kind: 'phone-mainland' },
  { value: '+86 138 1234 5678', kind: 'phone-mainland' },
  { value: '+8613812345678', kind: 'phone-mainland' },
  { value: '+852 2345 6789', kind: 'phone-hk' },
  { value: '2345 6789', kind: 'phone-hk' },
  { value: 'li.wei+study@research.hku.hk', kind: 'email' },
];

/** Whether a report mentions the value anywhere (as written, or as its digits alone). */
function mentions(report: InspectionReport, value: string): boolean {
  const json = JSON.stringify(report);
  const digits = value.replace(/\D/g, '');
  return json.includes(value) || (digits.length >= 6 && json.includes(digits));
}

describe('identifiers across chunk boundaries', () => {
  for (const { value, kind } of SAMPLES) {
    it(`finds ${kind} ${value.length} characters long once at every split position`, () => {
      const text = `id,contact,note\n1,${value},seen at clinic\n`;
      const start = text.indexOf(value);
      for (let split = start - 2; split <= start + value.length + 2; split += 1) {
        const report = inspect(text, [split, text.length]);
        expect(counts(report), `split at ${split - start}`).toEqual({ [kind]: 1 });
      }
      expect(counts(inspect(text, 1))).toEqual({ [kind]: 1 });
    });

    it(`finds ${kind} once wherever it falls against the scanner's windows`, () => {
      // Covers the first window boundary (64 KiB plus the carried tail) with margin on both sides.
      for (let at = 65_536 - 40; at <= 65_536 + 400; at += 1) {
        const filler = 'lorem ipsum, dolor sit;\n'.repeat(Math.ceil(at / 24) + 1).slice(0, at - 1);
        const text = `${filler}\n${value}\n${'amet consectetur\n'.repeat(30)}`;
        const report = inspect(text, 65_536);
        expect(report.findings.map((f) => [f.kind, f.count, f.firstOffsets]), `at ${at}`).toEqual([[kind, 1, [text.indexOf(value)]]]);
      }
    });
  }
});

describe('identifiers at random places in random chunks (property)', () => {
  const WORDS = ['lorem', 'ipsum', 'A', 'xyz', '12,', '7;', '305)', '0.5', 'sit-amet', 'foo.bar', '"q"', 'B2', 'ACGT', '\t', '#'];

  it('counts exactly one, and the report never contains it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SAMPLES),
        fc.array(fc.constantFrom(...WORDS), { maxLength: 400 }),
        fc.nat(140_000),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom('full' as const, 'sampled' as const),
        (sample, words, padding, chunks, mode) => {
          // Ordinary text around the value, with a newline on each side as a cell or a line would have.
          const noise = words.join(' ');
          const before = `${'x'.repeat(padding)} ${noise}`.slice(-Math.max(1, padding));
          const text = `${before}\n${sample.value}\n${noise}`;
          const report = inspect(text, chunks, { mode });
          expect(counts(report)).toEqual({ [sample.kind]: 1 });
          expect(report.findings[0]?.firstOffsets).toEqual([Buffer.byteLength(before) + 1]);
          expect(mentions(report, sample.value)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('what a report carries', () => {
  it('never includes identifier text, whichever identifiers and however many', () => {
    const text = SAMPLES.map((s) => `row,${s.value},x`).join('\n').repeat(3);
    const report = inspect(text, 17);
    expect(report.findings.length).toBeGreaterThan(4);
    for (const { value } of SAMPLES) expect(mentions(report, value), value).toBe(false);
    for (const finding of report.findings) {
      expect(finding.firstOffsets.length).toBeLessThanOrEqual(5);
      expect(finding.message).not.toMatch(/\d{6}|@/);
    }
  });
});
