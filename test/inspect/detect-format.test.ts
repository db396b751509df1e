// Format detection over realistic small samples of every format, whatever the chunking (down to one
// byte at a time); gzip and BGZF are inflated to see what is inside; the declared format is compared
// with what was detected; VCF sample columns are counted from #CHROM.
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { DetectedFormat } from '../../gateway/inspect/inspection-report.js';
import { bamHeader, bgzip, declared, fastqText, inspect, VCF_COLUMNS, vcfText } from './support.js';

const SAM = [
  '@HD\tVN:1.6\tSO:coordinate',
  '@SQ\tSN:chr1\tLN:248956422',
  '@RG\tID:rg1\tSM:sample1',
  'read1\t99\tchr1\t10468\t60\t10M\t=\t10600\t142\tACGTACGTAC\tIIIIIIIIII\tRG:Z:rg1',
  'read2\t147\tchr1\t10600\t60\t4M1I5M\t=\t10468\t-142\tTTGACCATGA\tFFFFFFFFFF\tRG:Z:rg1',
  '',
].join('\n');

const DICOM = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00, 0xc8, 0x00, 0x00, 0x00]), randomBytes(400)]);

const SAMPLES: Record<string, { readonly bytes: Uint8Array | string; readonly format: DetectedFormat; readonly compression?: string }> = {
  'VCF': { bytes: vcfText(3), format: 'vcf' },
  'VCF.gz (gzip)': { bytes: gzipSync(vcfText(3)), format: 'vcf', compression: 'gzip' },
  'VCF.gz (bgzip)': { bytes: bgzip(vcfText(3)), format: 'vcf', compression: 'bgzf' },
  'BAM': { bytes: bgzip(Buffer.concat([bamHeader(), randomBytes(2000)])), format: 'bam', compression: 'bgzf' },
  'BCF': { bytes: bgzip(Buffer.concat([Buffer.from('BCF\x02\x02', 'latin1'), randomBytes(300)])), format: 'bcf', compression: 'bgzf' },
  'CRAM': { bytes: Buffer.concat([Buffer.from('CRAM'), Buffer.from([3, 1]), Buffer.alloc(20), randomBytes(500)]), format: 'cram' },
  'FASTQ': { bytes: fastqText(20), format: 'fastq' },
  'FASTQ.gz': { bytes: gzipSync(fastqText(200)), format: 'fastq', compression: 'gzip' },
  'FASTA': { bytes: '>chr1 Homo sapiens chromosome 1\nNNNNACGTACGTTAGC\nACGTTGCAACGTACGA\n>chr2\nTTGACCA\n', format: 'fasta' },
  'protein FASTA': { bytes: '>sp|P69905|HBA_HUMAN Hemoglobin subunit alpha\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\nDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKL\n', format: 'fasta' },
  'SAM': { bytes: SAM, format: 'sam' },
  'SAM without header': { bytes: SAM.split('\n').filter((l) => !l.startsWith('@')).join('\n'), format: 'sam' },
  'CSV': { bytes: 'patient,visit,"note, free text",value\nP1,2024-01-02,"a, b",3.5\nP2,2024-02-03,"c ""quoted""",4.25\nP3,2024-03-04,plain,5\n', format: 'csv' },
  'CSV with semicolons': { bytes: 'a;b;c\n1;2;3\n4;5;6\n', format: 'csv' },
  'TSV': { bytes: 'gene\tsample\tcount\nBRCA1\tS1\t120\nTP53\tS1\t87\nEGFR\tS2\t9\n', format: 'tsv' },
  'FHIR NDJSON': {
    bytes: '{"resourceType":"Patient","id":"p1","gender":"female"}\n{"resourceType":"Observation","id":"o1","status":"final"}\n',
    format: 'fhir-ndjson',
  },
  'JSON': { bytes: '{\n  "study": "cohort-7",\n  "variables": [\n    {"name": "age", "type": "integer"}\n  ]\n}\n', format: 'json' },
  'JSON array': { bytes: '[{"id": 1}, {"id": 2}]', format: 'json' },
  'DICOM': { bytes: DICOM, format: 'dicom' },
  'PDF': { bytes: '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', format: 'pdf' },
  'Parquet': { bytes: Buffer.concat([Buffer.from('PAR1'), randomBytes(300), Buffer.from('PAR1')]), format: 'parquet' },
  'random bytes': { bytes: randomBytes(5000), format: 'unknown' },
  'free text': { bytes: 'Meeting notes\nThe cohort was discussed; nothing was decided.\n', format: 'unknown' },
};

describe('format detection', () => {
  for (const [name, sample] of Object.entries(SAMPLES)) {
    it(`detects ${name} in one chunk and one byte at a time`, () => {
      for (const chunking of [1_000_000, 1, 7]) {
        const report = inspect(sample.bytes, chunking);
        expect(report.detectedFormat, `${name} in chunks of ${chunking}`).toBe(sample.format);
        expect(report.compression).toBe(sample.compression ?? 'none');
      }
    });
  }

  it('decides on the whole detection prefix, not on a short first chunk', () => {
    const csv = `${'id,value\n'}${Array.from({ length: 20_000 }, (_, i) => `${i},${i * 3}`).join('\n')}\n`;
    expect(inspect(csv, [3, 65536]).detectedFormat).toBe('csv');
  });

  it('reads binary formats without scanning them for identifiers', () => {
    for (const name of ['BAM', 'CRAM', 'DICOM', 'PDF', 'Parquet', 'random bytes']) {
      const report = inspect(SAMPLES[name]?.bytes ?? '');
      expect(report.bytesScanned, name).toBe(0);
    }
  });

  it('scans text formats in full', () => {
    const report = inspect(SAMPLES.CSV?.bytes ?? '');
    expect(report.bytesScanned).toBe(report.bytesSeen);
  });
});

describe('declared format against detected format', () => {
  const cases: [string, string | Uint8Array, string, boolean][] = [
    ['csv that is a VCF', vcfText(2), 'csv', false],
    ['vcf that is a VCF', vcfText(2), 'vcf', true],
    ['vcf that is a bgzipped VCF', bgzip(vcfText(2)), 'vcf', true],
    ['vcf that is a gzipped VCF', gzipSync(vcfText(2)), 'vcf', true],
    ['vcf that is a CSV', 'a,b\n1,2\n3,4\n', 'vcf', false],
    ['json that is FHIR NDJSON', '{"resourceType":"Patient","id":"p1"}\n', 'json', true],
    ['csv that is a TSV', 'a\tb\n1\t2\n3\t4\n', 'csv', true],
    ['csv with one column (not decidable)', 'id\n1\n2\n3\n', 'csv', true],
    ['bam that is a BAM', bgzip(bamHeader()), 'bam', true],
    ['bam that is SAM text', SAM, 'bam', false],
    ['fastq that is FASTQ', fastqText(3), 'fastq', true],
    ['fastq that is random bytes', randomBytes(3000), 'fastq', false],
    ['pdf that is a PDF', '%PDF-1.4\n', 'pdf', true],
    ['dicom that is a PDF', '%PDF-1.4\n', 'dicom', false],
    ['other that is anything', vcfText(2), 'other', true],
    ['other that is random bytes', randomBytes(100), 'other', true],
  ];
  for (const [name, bytes, format, matches] of cases) {
    it(`${matches ? 'admits' : 'flags'} ${name}`, () => {
      const report = inspect(bytes, 100, { declared: declared({ format }) });
      expect(report.declaredFormat).toBe(format);
      expect(report.formatMatches).toBe(matches);
    });
  }
});

describe('VCF sample columns', () => {
  it('counts the columns after FORMAT', () => {
    for (const samples of [1, 3, 17]) expect(inspect(vcfText(samples), 5).vcf).toEqual({ sampleColumns: samples });
  });

  it('counts zero for a sites-only VCF', () => {
    const text = `##fileformat=VCFv4.2\n${VCF_COLUMNS.replace('\tFORMAT', '')}\nchr1\t100\t.\tA\tG\t50\tPASS\tAF=0.1\n`;
    expect(inspect(text).vcf).toEqual({ sampleColumns: 0 });
  });

  it('reads a header longer than the detection prefix and a #CHROM line of thousands of samples', () => {
    const contigs = Array.from({ length: 3000 }, (_, i) => `##contig=<ID=HLA-${i},length=${3000 + i}>\n`).join('');
    const text = vcfText(5000, 3, contigs);
    expect(text.length).toBeGreaterThan(200_000);
    for (const chunking of [65536, 4093, [1, 3, 100_000]]) expect(inspect(text, chunking).vcf).toEqual({ sampleColumns: 5000 });
    expect(inspect(bgzip(text), 999).vcf).toEqual({ sampleColumns: 5000 });
  });

  it('handles CRLF line ends and a #CHROM line at the very end', () => {
    expect(inspect(`##fileformat=VCFv4.2\r\n${VCF_COLUMNS}\tA\tB\r\n`, 3).vcf).toEqual({ sampleColumns: 2 });
    expect(inspect(`##fileformat=VCFv4.2\n${VCF_COLUMNS}\tA\tB\tC`, 2).vcf).toEqual({ sampleColumns: 3 });
  });

  it('says so when no #CHROM line was read', () => {
    const report = inspect('##fileformat=VCFv4.2\n##source=x\n');
    expect(report.detectedFormat).toBe('vcf');
    expect(report.vcf).toBeUndefined();
    expect(report.findings.map((f) => f.kind)).toContain('vcf-header-unread');
  });
});
