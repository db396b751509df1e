// What the content inspector is told, how it can be tuned, and what it reports. A report carries
// formats, byte counts, identifier counts and byte offsets: never the content itself, so it can go to
// logs, transfer records and officers without carrying plaintext out of the encrypted envelope.
import type { Manifest } from '../policy/manifest.js';

/** The manifest's claims about the dataset that the content is checked against. */
export type DeclaredDataset = Pick<
  Manifest['dataset'],
  'format' | 'subjects' | 'humanGeneticResources' | 'deidentification' | 'category'
>;

/** The claims of a manifest's dataset the inspector checks: the one place they are picked. */
export function declaredDataset(dataset: Manifest['dataset']): DeclaredDataset {
  const { format, subjects, humanGeneticResources, deidentification, category } = dataset;
  return { format, subjects, humanGeneticResources, deidentification, category };
}

/** What the content looks like. `unknown` when no detector was sure. */
export type DetectedFormat =
  | 'vcf'
  | 'bcf'
  | 'fastq'
  | 'fasta'
  | 'sam'
  | 'bam'
  | 'cram'
  | 'csv'
  | 'tsv'
  | 'fhir-ndjson'
  | 'json'
  | 'dicom'
  | 'pdf'
  | 'parquet'
  | 'unknown';

/** The container around the content: BGZF is the block gzip of bgzip, BAM and tabix-indexed VCF. */
export type Compression = 'none' | 'gzip' | 'bgzf';

/** Identifiers the scan counts. `mainland-id-lookalike` is 18 characters shaped like a resident identity number with a wrong check digit: not an identifier. */
export type IdentifierKind = 'mainland-id' | 'mainland-id-lookalike' | 'hkid' | 'phone-mainland' | 'phone-hk' | 'email';

export type FindingKind = IdentifierKind | 'compressed-content-unreadable' | 'vcf-header-unread';

export type Severity = 'info' | 'quarantine';

export interface Finding {
  readonly kind: FindingKind;
  readonly severity: Severity;
  readonly count: number;
  /** Plain words; never any of the content. */
  readonly message: string;
  /** Byte offsets of the first (at most five) occurrences; into the inflated content when compressed. */
  readonly firstOffsets: readonly number[];
}

export interface InspectionReport {
  readonly detectedFormat: DetectedFormat;
  readonly declaredFormat: string;
  readonly formatMatches: boolean;
  readonly compression: Compression;
  /** Bytes of the upload as it arrived. */
  readonly bytesSeen: number;
  /** Bytes inflated from a gzip/BGZF upload (bounded by `inflateOutputBytes`); 0 when not compressed. */
  readonly bytesInflated: number;
  /** Content bytes the identifier scan covered (inflated bytes when compressed; 0 for binary formats). */
  readonly bytesScanned: number;
  /** True when the identifier scan covered only part of the text content (sampling or the inflate budget). */
  readonly sampled: boolean;
  /** For VCF: the number of sample columns after FORMAT on the `#CHROM` line. */
  readonly vcf?: { readonly sampleColumns: number };
  readonly findings: readonly Finding[];
}

/** Bounds on memory and work; every field has a default. */
export interface InspectorLimits {
  /** Bytes looked at before the format is decided (default 64 KiB). */
  readonly detectBytes?: number;
  /** `sampled` mode: bytes from the start scanned in full (default 16 MiB). */
  readonly fullScanBytes?: number;
  /** `sampled` mode: size of each window scanned after that (default 64 KiB). */
  readonly sampleWindowBytes?: number;
  /** `sampled` mode: one window is scanned in every this many (default 16). */
  readonly sampleEvery?: number;
  /** gzip/BGZF: inflated bytes looked at, at most (default 4 MiB). */
  readonly inflateOutputBytes?: number;
  /** gzip that is not BGZF: compressed bytes held to inflate from, at most (default 1 MiB). */
  readonly inflateInputBytes?: number;
}

export type InspectionMode = 'full' | 'sampled';

export interface InspectorOptions {
  readonly declared: DeclaredDataset;
  readonly mode: InspectionMode;
  readonly limits?: InspectorLimits;
  /** Birth dates after this day are not plausible (default: today). */
  readonly today?: Date;
}

export interface Inspector {
  /** Looks at the next plaintext chunk; synchronous, and keeps no reference to the chunk. */
  write(chunk: Uint8Array): void;
  /** Ends the stream and reports. Call once. */
  finish(): InspectionReport;
}
