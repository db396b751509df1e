// Looks at content (an upload's bytes, or what was inflated from it): holds the first `detectBytes`
// until the format can be decided, then replays them and everything after into the readers the format
// calls for: the identifier scanner for text, the #CHROM reader for VCF, nothing for binary formats.
import { detectFormat } from './detect-format.js';
import type { IdentifierTally } from './identifier-tally.js';
import type { DetectedFormat } from './inspection-report.js';
import { createVcfHeaderReader, type VcfHeaderReader } from './read-vcf-header.js';
import { createIdentifierScanner, type IdentifierScanner, type Sampling } from './scan-identifiers.js';
import type { ScanProfile } from './select-scanned-lines.js';

export interface ContentAnalyzerOptions {
  readonly detectBytes: number;
  readonly tally: IdentifierTally;
  readonly latestBirthDate: number;
  /** Undefined: scan every text byte. */
  readonly sampling?: Sampling;
}

export interface ContentAnalysis {
  readonly format: DetectedFormat;
  readonly bytesSeen: number;
  readonly bytesScanned: number;
  /** Defined for VCF once the #CHROM line was read. */
  readonly vcfSampleColumns: number | undefined;
}

export interface ContentAnalyzer {
  write(bytes: Uint8Array): void;
  finish(): ContentAnalysis;
}

const PROFILES: Partial<Record<DetectedFormat, ScanProfile>> = { fastq: 'fastq', sam: 'sam' };

/** An analyzer for one stream of content. */
export function createContentAnalyzer(options: ContentAnalyzerOptions): ContentAnalyzer {
  let prefix: Uint8Array | undefined = new Uint8Array(options.detectBytes);
  let prefixLength = 0;
  let format: DetectedFormat = 'unknown';
  let scanner: IdentifierScanner | undefined;
  let vcfHeader: VcfHeaderReader | undefined;
  let bytesSeen = 0;

  const pass = (bytes: Uint8Array): void => {
    scanner?.write(bytes);
    vcfHeader?.write(bytes);
  };

  const decide = (held: Uint8Array, complete: boolean): void => {
    const guess = detectFormat(held, complete);
    format = guess.format;
    if (guess.textual) {
      scanner = createIdentifierScanner({
        profile: PROFILES[format] ?? 'text',
        tally: options.tally,
        latestBirthDate: options.latestBirthDate,
        ...(options.sampling ? { sampling: options.sampling } : {}),
      });
    }
    if (format === 'vcf') vcfHeader = createVcfHeaderReader();
    prefix = undefined;
    pass(held);
  };

  return {
    write(bytes) {
      bytesSeen += bytes.length;
      if (!prefix) return pass(bytes);
      const take = Math.min(bytes.length, prefix.length - prefixLength);
      prefix.set(bytes.subarray(0, take), prefixLength);
      prefixLength += take;
      if (prefixLength < prefix.length) return;
      decide(prefix, false);
      pass(bytes.subarray(take));
    },
    finish() {
      if (prefix) decide(prefix.subarray(0, prefixLength), true);
      scanner?.finish();
      vcfHeader?.finish();
      return { format, bytesSeen, bytesScanned: scanner?.bytesScanned ?? 0, vcfSampleColumns: vcfHeader?.sampleColumns };
    },
  };
}
