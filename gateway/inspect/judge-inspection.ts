// Turns an inspection report into pass or quarantine against what the manifest declared. A quarantined
// upload is kept encrypted and held for an officer; the reasons say why in plain words, without any
// of the content.
import type { DeclaredDataset, InspectionReport } from './inspection-report.js';
import { DIRECT_IDENTIFIER_KINDS, isFormatAdmitted, isRawSequence, rateFinding } from './inspection-rules.js';

export interface InspectionJudgement {
  readonly outcome: 'pass' | 'quarantine';
  readonly reasons: readonly string[];
}

/**
 * Judges a report against the declaration (the declaration is read again rather than trusting the
 * report's severities, so a report can be judged against a corrected manifest). Quarantines when:
 * the detected format contradicts the declared one; raw sequence data (FASTQ, SAM, BAM, CRAM) is not
 * declared as human genetic resources; a VCF has more sample columns than declared subjects; direct
 * identifiers (identity numbers, phone numbers, e-mail addresses) appear in data not declared
 * `identified`. Pure; throws nothing.
 */
export function judgeInspection(report: InspectionReport, declared: DeclaredDataset): InspectionJudgement {
  const reasons: string[] = [];
  if (!isFormatAdmitted(report.detectedFormat, declared.format)) {
    reasons.push(`declared format ${declared.format}, but the content is ${describeFormat(report)}`);
  }
  if (isRawSequence(report.detectedFormat) && !declared.humanGeneticResources) {
    reasons.push(`raw sequence data (${report.detectedFormat}) not declared as human genetic resources`);
  }
  if (report.vcf && report.vcf.sampleColumns > declared.subjects) {
    reasons.push(`the VCF has ${report.vcf.sampleColumns} sample columns but ${declared.subjects} subjects are declared`);
  }
  for (const finding of report.findings) {
    if (finding.count > 0 && DIRECT_IDENTIFIER_KINDS.has(finding.kind) && rateFinding(finding.kind, declared) === 'quarantine') {
      reasons.push(`${finding.message} in data declared ${declared.deidentification}`);
    }
  }
  return { outcome: reasons.length === 0 ? 'pass' : 'quarantine', reasons };
}

function describeFormat(report: InspectionReport): string {
  const format = report.detectedFormat === 'unknown' ? 'of no recognised format' : report.detectedFormat;
  return report.compression === 'none' ? format : `${format} (${report.compression}-compressed)`;
}
