// The rules that turn what the inspector saw into severities: which detected formats a declared format
// admits, which formats are raw sequence data, and when an identifier in the content is a problem.
// Shared by the inspector (finding severities) and judgeInspection (the outcome), so they cannot drift.
import type { DeclaredDataset, DetectedFormat, FindingKind, Severity } from './inspection-report.js';

/** Identifiers that point at a person directly. */
export const DIRECT_IDENTIFIER_KINDS: ReadonlySet<FindingKind> = new Set(['mainland-id', 'hkid', 'phone-mainland', 'phone-hk', 'email']);

/** Raw reads and alignments: always human genetic resources when the reads are human. */
const RAW_SEQUENCE_FORMATS: ReadonlySet<DetectedFormat> = new Set(['fastq', 'sam', 'bam', 'cram']);

/**
 * Declared format → detected formats it admits. csv and tsv admit each other: which delimiter a table
 * uses does not change what the data is. `json` admits FHIR NDJSON.
 */
const ADMITTED: Readonly<Record<string, readonly DetectedFormat[]>> = {
  vcf: ['vcf', 'bcf'],
  fastq: ['fastq'],
  bam: ['bam'],
  cram: ['cram'],
  csv: ['csv', 'tsv'],
  tsv: ['tsv', 'csv'],
  json: ['json', 'fhir-ndjson'],
  parquet: ['parquet'],
  dicom: ['dicom'],
  pdf: ['pdf'],
};

/**
 * Declared formats whose detection is a heuristic over text (a one-column CSV has no delimiter to
 * count): for these, `unknown` is no contradiction. Every other declared format has a mandatory
 * signature, so content without it contradicts the declaration.
 */
const HEURISTIC_FORMATS: ReadonlySet<string> = new Set(['csv', 'tsv', 'json']);

/** Whether the detected format is consistent with the declared one. `other` admits anything. */
export function isFormatAdmitted(detected: DetectedFormat, declared: string): boolean {
  if (declared === 'other') return true;
  if (detected === 'unknown') return HEURISTIC_FORMATS.has(declared);
  return (ADMITTED[declared] ?? [declared]).includes(detected);
}

/** FASTQ, SAM, BAM and CRAM: sequence reads, which must be declared as human genetic resources. */
export function isRawSequence(detected: DetectedFormat): boolean {
  return RAW_SEQUENCE_FORMATS.has(detected);
}

/**
 * Direct identifiers are expected in `identified` data; anywhere else (pseudonymised data must not
 * carry them either) they quarantine the upload. Everything else the scan reports is information.
 */
export function rateFinding(kind: FindingKind, declared: Pick<DeclaredDataset, 'deidentification'>): Severity {
  if (!DIRECT_IDENTIFIER_KINDS.has(kind)) return 'info';
  return declared.deidentification === 'identified' ? 'info' : 'quarantine';
}
