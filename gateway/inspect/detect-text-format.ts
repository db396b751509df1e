// Heuristics for text formats without a magic number: VCF, SAM, FASTQ, FASTA, FHIR NDJSON, JSON, and
// delimited tables (CSV/TSV by consistent delimiter counts). Run once per upload over the detection
// prefix; a last line cut off by the end of the prefix is never judged.
import type { DetectedFormat } from './inspection-report.js';

const MAX_LINES = 200;
const MAX_RECORDS = 50;
const SAM_HEADER = /^@(?:HD|SQ|RG|PG|CO)\t/;
const SEQUENCE_LINE = /^[A-Za-z.*-]+$/;
const DIGITS = /^\d+$/;
const CIGAR = /^(?:\*|(?:\d+[MIDNSHP=X])+)$/;
/** Delimiters tried for tables, in order of preference when two are equally consistent. */
const DELIMITERS = ['\t', ',', ';', '|'] as const;

/** The text format of a prefix, or undefined when no heuristic is sure. */
export function detectTextFormat(prefix: Uint8Array, complete: boolean): DetectedFormat | undefined {
  const text = decodeLatin1(prefix);
  if (text.startsWith('##fileformat=VCF')) return 'vcf';
  if (SAM_HEADER.test(text)) return 'sam';
  const lines = splitLines(text, complete);
  if (looksLikeFastq(lines)) return 'fastq';
  if (looksLikeFasta(lines)) return 'fasta';
  if (looksLikeSamAlignments(lines)) return 'sam';
  return detectJson(text, lines, complete) ?? detectDelimited(text, complete);
}

/** Latin-1 keeps one character per byte, so nothing here depends on valid UTF-8; a UTF-8 BOM is dropped. */
function decodeLatin1(prefix: Uint8Array): string {
  const bom = prefix[0] === 0xef && prefix[1] === 0xbb && prefix[2] === 0xbf ? 3 : 0;
  return Buffer.from(prefix.buffer, prefix.byteOffset + bom, Math.max(0, prefix.byteLength - bom)).toString('latin1');
}

function splitLines(text: string, complete: boolean): string[] {
  const lines = text.split('\n', MAX_LINES + 1);
  // Without the whole content, the part after the last newline may be cut off.
  if (!complete || lines.length > MAX_LINES) lines.pop();
  if (complete && lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

/** Records of four lines: `@` header, sequence, `+` separator, quality as long as the sequence. */
function looksLikeFastq(lines: readonly string[]): boolean {
  const records = Math.min(Math.floor(lines.length / 4), MAX_RECORDS);
  if (records === 0) return false;
  for (let r = 0; r < records; r += 1) {
    const [header = '', sequence = '', separator = '', quality = ''] = lines.slice(r * 4, r * 4 + 4);
    if (header.length < 2 || !header.startsWith('@')) return false;
    if (!SEQUENCE_LINE.test(sequence) || !separator.startsWith('+') || quality.length !== sequence.length) return false;
  }
  return true;
}

/** A `>` header followed by lines of residue letters (nucleotides or amino acids). */
function looksLikeFasta(lines: readonly string[]): boolean {
  if (!lines[0]?.startsWith('>')) return false;
  let residueLines = 0;
  for (const line of lines.slice(1, MAX_RECORDS)) {
    if (line === '' || line.startsWith('>')) continue;
    if (!SEQUENCE_LINE.test(line)) return false;
    residueLines += 1;
  }
  return residueLines > 0;
}

/** Headerless SAM: 11 or more tab-separated fields with numeric FLAG, POS and MAPQ and a CIGAR. */
function looksLikeSamAlignments(lines: readonly string[]): boolean {
  const sample = lines.filter((line) => line !== '').slice(0, MAX_RECORDS);
  if (sample.length === 0) return false;
  return sample.every((line) => {
    const fields = line.split('\t');
    return fields.length >= 11 && DIGITS.test(fields[1] ?? '') && DIGITS.test(fields[3] ?? '') && DIGITS.test(fields[4] ?? '') && CIGAR.test(fields[5] ?? '');
  });
}

function detectJson(text: string, lines: readonly string[], complete: boolean): DetectedFormat | undefined {
  const start = text.search(/\S/);
  const opening = start === -1 ? '' : text.charAt(start);
  if (opening !== '{' && opening !== '[') return undefined;
  const objects = lines.filter((line) => line.trim() !== '').slice(0, MAX_RECORDS).map(parseObject);
  if (opening === '{' && objects.length > 0 && objects.every((o) => o !== undefined)) {
    return objects.every((o) => typeof o?.resourceType === 'string') ? 'fhir-ndjson' : 'json';
  }
  if (complete) return parses(text) ? 'json' : undefined;
  // A document longer than the prefix: trust the opening and what follows it.
  const next = text.slice(start + 1).search(/\S/);
  const following = next === -1 ? '' : text.charAt(start + 1 + next);
  return (opening === '{' ? /^["}]$/ : /^[[{"\-0-9tfn\]]$/).test(following) ? 'json' : undefined;
}

function parseObject(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A table when some delimiter occurs equally often (and at least once) on every record. */
function detectDelimited(text: string, complete: boolean): 'csv' | 'tsv' | undefined {
  let best: { delimiter: string; perRecord: number } | undefined;
  for (const delimiter of DELIMITERS) {
    const counts = countDelimiters(text, delimiter, complete);
    const first = counts[0];
    if (counts.length < 2 || first === undefined || first === 0 || counts.some((c) => c !== first)) continue;
    if (!best || first > best.perRecord) best = { delimiter, perRecord: first };
  }
  if (!best) return undefined;
  return best.delimiter === '\t' ? 'tsv' : 'csv';
}

/** Delimiters outside quoted fields, per non-blank record (RFC 4180 quoting: a quote opens only at a field start). */
function countDelimiters(text: string, delimiter: string, complete: boolean): number[] {
  const counts: number[] = [];
  let count = 0;
  let fieldStart = true;
  let quoted = false;
  let blank = true;
  for (let i = 0; i < text.length && counts.length < MAX_RECORDS; i += 1) {
    const c = text.charAt(i);
    if (quoted) {
      if (c === '"') {
        if (text.charAt(i + 1) === '"') i += 1;
        else quoted = false;
      }
      continue;
    }
    if (c === '\n') {
      if (!blank) counts.push(count);
      count = 0;
      fieldStart = true;
      blank = true;
      continue;
    }
    if (c !== '\r') blank = false;
    if (c === delimiter) {
      count += 1;
      fieldStart = true;
    } else {
      if (c === '"' && fieldStart) quoted = true;
      fieldStart = false;
    }
  }
  if (complete && !blank && counts.length < MAX_RECORDS) counts.push(count);
  return counts;
}
