// judgeInspection over real inspections: identifiers against the declared de-identification, raw
// sequence data against the human-genetic-resources flag, detected against declared format, VCF
// sample columns against declared subjects. Reasons are plain words without any of the content.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { DeclaredDataset } from '../../gateway/inspect/inspection-report.js';
import { judgeInspection } from '../../gateway/inspect/judge-inspection.js';
import { bamHeader, bgzip, declared, fastqText, inspect, mainlandId, vcfText, withWrongCheck } from './support.js';

const ID = mainlandId('440305', '19900307', '123');
const TABLE_WITH_ID = `name,id\nsubject-1,${ID}\n`;
const TABLE_WITHOUT_ID = 'name,score\nsubject-1,3\nsubject-2,4\n';

function judge(input: string | Uint8Array, declaration: Partial<DeclaredDataset>) {
  const declaredDataset = declared(declaration);
  return judgeInspection(inspect(input, 1000, { declared: declaredDataset }), declaredDataset);
}

describe('judgeInspection', () => {
  it('quarantines identity numbers in data declared anonymised or aggregate', () => {
    for (const deidentification of ['anonymised', 'aggregate'] as const) {
      const judgement = judge(TABLE_WITH_ID, { format: 'csv', deidentification });
      expect(judgement.outcome, deidentification).toBe('quarantine');
      expect(judgement.reasons).toEqual([`1 mainland resident identity number (valid check character and birth date) in data declared ${deidentification}`]);
    }
  });

  it('quarantines direct identifiers in data declared pseudonymised', () => {
    for (const value of [ID, 'A123456(3)', '13812345678', '+852 2345 6789', 'someone@example.org']) {
      expect(judge(`name,contact\nsubject-1,${value}\n`, { format: 'csv', deidentification: 'pseudonymised' }).outcome, value).toBe('quarantine');
    }
  });

  it('passes identifiers in data declared identified (they are expected there)', () => {
    const declaration = declared({ format: 'csv', deidentification: 'identified' });
    const report = inspect(TABLE_WITH_ID, 1000, { declared: declaration });
    expect(report.findings.map((f) => [f.kind, f.severity])).toEqual([['mainland-id', 'info']]);
    expect(judgeInspection(report, declaration)).toEqual({ outcome: 'pass', reasons: [] });
  });

  it('passes look-alikes with a wrong check character, even in anonymised data', () => {
    expect(judge(`name,id\nsubject-1,${withWrongCheck(ID)}\n`, { format: 'csv', deidentification: 'anonymised' }).outcome).toBe('pass');
  });

  it('passes clean anonymised data', () => {
    expect(judge(TABLE_WITHOUT_ID, { format: 'csv', deidentification: 'anonymised' })).toEqual({ outcome: 'pass', reasons: [] });
  });

  it('quarantines raw sequence data not declared as human genetic resources', () => {
    const sam = '@HD\tVN:1.6\nr1\t0\tchr1\t100\t60\t4M\t*\t0\t0\tACGT\tIIII\n';
    for (const [input, format] of [[fastqText(10), 'fastq'], [gzipSync(fastqText(10)), 'fastq'], [bgzip(bamHeader()), 'bam'], [sam, 'other']] as const) {
      const judgement = judge(input, { format, humanGeneticResources: false, deidentification: 'pseudonymised' });
      expect(judgement.outcome, format).toBe('quarantine');
      expect(judgement.reasons.join()).toMatch(/raw sequence data \((fastq|bam|sam)\) not declared as human genetic resources/);
    }
    expect(judge(fastqText(10), { format: 'fastq', humanGeneticResources: true, deidentification: 'pseudonymised' }).outcome).toBe('pass');
  });

  it('quarantines a format that contradicts the declaration', () => {
    const judgement = judge(vcfText(3), { format: 'csv', subjects: 3 });
    expect(judgement).toEqual({ outcome: 'quarantine', reasons: ['declared format csv, but the content is vcf'] });
    expect(judge(gzipSync(vcfText(3)), { format: 'pdf', subjects: 3 }).reasons).toEqual(['declared format pdf, but the content is vcf (gzip-compressed)']);
    expect(judge(vcfText(3), { format: 'other', subjects: 3 }).outcome).toBe('pass');
    expect(judge('{"resourceType":"Patient","id":"p1"}\n', { format: 'json' }).outcome).toBe('pass');
  });

  it('quarantines a VCF with more sample columns than declared subjects', () => {
    const judgement = judge(vcfText(12), { format: 'vcf', subjects: 10 });
    expect(judgement).toEqual({ outcome: 'quarantine', reasons: ['the VCF has 12 sample columns but 10 subjects are declared'] });
    expect(judge(vcfText(10), { format: 'vcf', subjects: 10 }).outcome).toBe('pass');
    expect(judge(bgzip(vcfText(11)), { format: 'vcf', subjects: 10 }).outcome).toBe('quarantine');
  });

  it('gives every reason at once, without any of the content', () => {
    const input = `${vcfText(4).replace('##source=test', `##source=${ID} someone@example.org`)}`;
    const judgement = judge(input, { format: 'csv', subjects: 2, deidentification: 'anonymised' });
    expect(judgement.outcome).toBe('quarantine');
    expect(judgement.reasons).toHaveLength(4);
    expect(JSON.stringify(judgement)).not.toContain(ID);
    expect(JSON.stringify(judgement)).not.toContain('example.org');
  });
});
