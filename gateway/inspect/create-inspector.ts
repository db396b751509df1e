// The streaming content inspector: sees every plaintext chunk of an upload once, in the same pass that
// encrypts it, and reports what the content is and which identifiers it holds, as counts and offsets
// only. Memory is fixed (an 18-byte head, the detection prefix, one scan window, and for compressed
// uploads a bounded inflate budget); work per byte is constant.
import { createContentAnalyzer, type ContentAnalysis } from './analyze-content.js';
import { toDateNumber } from './check-identifiers.js';
import { COMPRESSION_HEAD_BYTES, detectCompression } from './detect-format.js';
import { createIdentifierTally, type IdentifierTally } from './identifier-tally.js';
import { createBgzfInflater, type PrefixInflater } from './inflate-bgzf.js';
import { createGzipPrefixInflater } from './inflate-gzip-prefix.js';
import { resolveLimits } from './resolve-limits.js';
import type { Compression, DeclaredDataset, Finding, FindingKind, InspectionReport, Inspector, InspectorOptions } from './inspection-report.js';
import { isFormatAdmitted, rateFinding } from './inspection-rules.js';

/**
 * Creates an inspector for one upload. `write` every plaintext chunk in order (any sizes), then
 * `finish` once for the report. Throws Error if written to after finish (a caller bug).
 */
export function createInspector(options: InspectorOptions): Inspector {
  const limits = resolveLimits(options.limits);
  const tally = createIdentifierTally();
  const analyzer = createContentAnalyzer({
    detectBytes: limits.detectBytes,
    tally,
    latestBirthDate: toDateNumber(options.today ?? new Date()),
    ...(options.mode === 'sampled' ? { sampling: limits.sampling } : {}),
  });
  const head = new Uint8Array(COMPRESSION_HEAD_BYTES);
  let headLength = 0;
  let compression: Compression | undefined;
  let inflater: PrefixInflater | undefined;
  let bytesSeen = 0;
  let finished = false;

  const route = (bytes: Uint8Array): void => {
    if (inflater) inflater.write(bytes);
    else analyzer.write(bytes);
  };

  const chooseRoute = (): void => {
    const held = head.subarray(0, headLength);
    compression = detectCompression(held);
    const onOutput = (bytes: Uint8Array): void => analyzer.write(bytes);
    if (compression === 'bgzf') inflater = createBgzfInflater({ outputBytes: limits.inflateOutputBytes, onOutput });
    if (compression === 'gzip') {
      inflater = createGzipPrefixInflater({ outputBytes: limits.inflateOutputBytes, inputBytes: limits.inflateInputBytes, onOutput });
    }
    route(held);
  };

  return {
    write(chunk) {
      if (finished) throw new Error('the inspector was written to after finish()');
      bytesSeen += chunk.length;
      if (compression !== undefined) return route(chunk);
      const take = Math.min(chunk.length, head.length - headLength);
      head.set(chunk.subarray(0, take), headLength);
      headLength += take;
      if (headLength < head.length) return;
      chooseRoute();
      route(chunk.subarray(take));
    },
    finish() {
      if (finished) throw new Error('finish() was called twice');
      finished = true;
      if (compression === undefined) chooseRoute();
      inflater?.finish();
      const content = analyzer.finish();
      return buildReport(options.declared, content, tally, {
        compression: compression ?? 'none',
        bytesSeen,
        bytesInflated: inflater?.bytesInflated ?? 0,
        inflateFailed: inflater?.failed ?? false,
        inflateStoppedEarly: inflater?.stoppedEarly ?? false,
      });
    },
  };
}

interface StreamFacts {
  readonly compression: Compression;
  readonly bytesSeen: number;
  readonly bytesInflated: number;
  readonly inflateFailed: boolean;
  readonly inflateStoppedEarly: boolean;
}

const MESSAGES: Record<FindingKind, (count: number) => string> = {
  'mainland-id': (n) => `${n} mainland resident identity number${plural(n)} (valid check character and birth date)`,
  'mainland-id-lookalike': (n) => `${n} 18-character number${plural(n)} shaped like a resident identity number but with a wrong check character`,
  hkid: (n) => `${n} Hong Kong identity card number${plural(n)} (valid check digit)`,
  'phone-mainland': (n) => `${n} mainland mobile phone number${plural(n)}`,
  'phone-hk': (n) => `${n} Hong Kong phone number${plural(n)}`,
  email: (n) => `${n} e-mail address${n === 1 ? '' : 'es'}`,
  'compressed-content-unreadable': () => 'part or all of the compressed content could not be inflated, and that part was not scanned',
  'vcf-header-unread': () => 'no complete #CHROM line was read, so the number of sample columns is unknown',
};
const KIND_ORDER = Object.keys(MESSAGES) as FindingKind[];

function plural(count: number): string {
  return count === 1 ? '' : 's';
}

function buildReport(declared: DeclaredDataset, content: ContentAnalysis, tally: IdentifierTally, facts: StreamFacts): InspectionReport {
  const found = new Map<FindingKind, { count: number; firstOffsets: readonly number[] }>(tally.entries());
  if (facts.inflateFailed) found.set('compressed-content-unreadable', { count: 1, firstOffsets: [] });
  if (content.format === 'vcf' && content.vcfSampleColumns === undefined) found.set('vcf-header-unread', { count: 1, firstOffsets: [] });
  const findings: Finding[] = KIND_ORDER.flatMap((kind) => {
    const entry = found.get(kind);
    if (!entry) return [];
    return [{ kind, severity: rateFinding(kind, declared), count: entry.count, message: MESSAGES[kind](entry.count), firstOffsets: [...entry.firstOffsets] }];
  });
  const partial = content.bytesScanned > 0 && (content.bytesScanned < content.bytesSeen || facts.inflateStoppedEarly);
  return {
    detectedFormat: content.format,
    declaredFormat: declared.format,
    formatMatches: isFormatAdmitted(content.format, declared.format),
    compression: facts.compression,
    bytesSeen: facts.bytesSeen,
    bytesInflated: facts.bytesInflated,
    bytesScanned: content.bytesScanned,
    sampled: partial,
    ...(content.format === 'vcf' && content.vcfSampleColumns !== undefined ? { vcf: { sampleColumns: content.vcfSampleColumns } } : {}),
    findings,
  };
}
