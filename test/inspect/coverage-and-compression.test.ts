// What the scan covers: everything in full mode; the first bytes and then one window in K in sampled
// mode (and `bytesScanned` says exactly how much); inflated gzip/BGZF content up to the inflate budget,
// including a zip bomb; nothing of binary formats; unreadable compressed data is reported as such.
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bgzip, counts, fastqText, inspect, mainlandId, vcfText } from './support.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const ID = mainlandId('440305', '19900307', '123');
const SAMPLING = { fullScanBytes: 64 * KIB, sampleWindowBytes: 4 * KIB, sampleEvery: 4 };

/** `size` bytes of CSV rows, with `ID` written as a whole row starting at each of `offsets`. */
function csvWithIdsAt(size: number, offsets: readonly number[]): Buffer {
  const row = 'subject-0000,1987-04-12,F,172.5,negative\n';
  const bytes = Buffer.from(row.repeat(Math.ceil(size / row.length)).slice(0, size));
  for (const offset of offsets) bytes.write(`\n${ID}\n`, offset - 1);
  return bytes;
}

describe('sampled mode', () => {
  it('scans the first bytes in full, then one window in every K, and says how much', () => {
    const report = inspect(csvWithIdsAt(MIB, []), 65536, { mode: 'sampled', limits: SAMPLING });
    const windowsAfter = Math.ceil((MIB - 64 * KIB) / (4 * KIB) / 4);
    expect(report.bytesScanned).toBe(64 * KIB + windowsAfter * 4 * KIB);
    expect(report.sampled).toBe(true);
  });

  it('finds identifiers in scanned windows and not in skipped ones', () => {
    const scannedWindow = 64 * KIB + 8 * 4 * KIB + 100; // window 8 is scanned (8 mod 4 = 0)
    const skippedWindow = 64 * KIB + 9 * 4 * KIB + 100;
    const inFullPart = 1000;
    const report = inspect(csvWithIdsAt(MIB, [inFullPart, scannedWindow, skippedWindow]), 3000, { mode: 'sampled', limits: SAMPLING });
    expect(report.findings.map((f) => [f.kind, f.count, f.firstOffsets])).toEqual([['mainland-id', 2, [inFullPart, scannedWindow]]]);
  });

  it('is full coverage when the content fits in the fully scanned part', () => {
    const report = inspect(csvWithIdsAt(50 * KIB, [1000]), 4096, { mode: 'sampled', limits: SAMPLING });
    expect(report).toMatchObject({ bytesScanned: 50 * KIB, sampled: false });
    expect(counts(report)).toEqual({ 'mainland-id': 1 });
  });

  it('keeps FASTQ record structure across skipped windows', () => {
    const text = fastqText(8000, (i) => `@read${i} from lab.contact@example.org`);
    const report = inspect(text, 65536, { mode: 'sampled', limits: SAMPLING });
    const emails = counts(report).email ?? 0;
    expect(Object.keys(counts(report))).toEqual(['email']);
    // Roughly the scanned share of the headers, and no "addresses" from quality lines.
    const share = report.bytesScanned / report.bytesSeen;
    expect(emails).toBeGreaterThan(8000 * share * 0.8);
    expect(emails).toBeLessThan(8000 * share * 1.2);
  });

  it('scans everything in full mode', () => {
    const report = inspect(csvWithIdsAt(MIB, [64 * KIB + 9 * 4 * KIB + 100]), 65536, { mode: 'full' });
    expect(report).toMatchObject({ bytesScanned: MIB, bytesSeen: MIB, sampled: false });
    expect(counts(report)).toEqual({ 'mainland-id': 1 });
  });
});

describe('compressed content', () => {
  it('scans inflated gzip text, with offsets into the inflated content', () => {
    const text = csvWithIdsAt(300 * KIB, [200 * KIB]);
    const report = inspect(gzipSync(text), 1000);
    expect(report).toMatchObject({ compression: 'gzip', detectedFormat: 'csv', bytesInflated: text.length, bytesScanned: text.length, sampled: false });
    expect(report.findings.map((f) => [f.kind, f.firstOffsets])).toEqual([['mainland-id', [200 * KIB]]]);
  });

  it('scans inflated BGZF text up to the inflate budget, and says the rest was not scanned', () => {
    const text = vcfText(30, 40_000);
    expect(text.length).toBeGreaterThan(4 * MIB);
    const report = inspect(bgzip(text), 65536);
    expect(report).toMatchObject({ compression: 'bgzf', detectedFormat: 'vcf', bytesInflated: 4 * MIB, bytesScanned: 4 * MIB, sampled: true, vcf: { sampleColumns: 30 } });
  });

  it('stops a zip bomb at the budget', () => {
    const bomb = gzipSync(Buffer.alloc(64 * MIB, 'a'));
    expect(bomb.length).toBeLessThan(MIB);
    const before = process.memoryUsage().arrayBuffers;
    const report = inspect(bomb, 65536, { limits: { inflateOutputBytes: MIB } });
    expect(report.bytesInflated).toBeGreaterThan(0);
    expect(report.bytesInflated).toBeLessThanOrEqual(MIB);
    expect(report.sampled).toBe(true);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MIB);
  });

  it('reports compressed content it cannot read', () => {
    const corrupt = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), randomBytes(5000)]);
    const report = inspect(corrupt, 100);
    expect(report.compression).toBe('gzip');
    expect(report.findings.map((f) => f.kind)).toContain('compressed-content-unreadable');
  });

  it('copes with a BGZF stream cut off inside a block', () => {
    const whole = bgzip(vcfText(3, 5000));
    const report = inspect(whole.subarray(0, Math.floor(whole.length / 2) + 7), 999);
    expect(report).toMatchObject({ compression: 'bgzf', detectedFormat: 'vcf', vcf: { sampleColumns: 3 } });
  });
});
