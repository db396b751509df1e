// Decides what an upload's first bytes are: the compression container (gzip, BGZF) from the first
// eighteen bytes, and the content format from magic numbers, falling back to text heuristics. Works on
// a bounded prefix only; the caller decides how much to buffer.
import type { Compression, DetectedFormat } from './inspection-report.js';
import { detectTextFormat } from './detect-text-format.js';

/** Bytes detectCompression needs: a gzip member header with a BGZF extra field. */
export const COMPRESSION_HEAD_BYTES = 18;

export interface ContentGuess {
  readonly format: DetectedFormat;
  /** Whether the content is text the identifier scan should read (binary formats are not scanned). */
  readonly textual: boolean;
}

const BINARY_FORMATS: ReadonlySet<DetectedFormat> = new Set(['bam', 'bcf', 'cram', 'dicom', 'pdf', 'parquet']);

/** gzip magic 1f 8b; BGZF when the member carries a `BC` extra subfield (SAM/BAM spec §4.1). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return 'none';
  return hasBgzfField(head) ? 'bgzf' : 'gzip';
}

/** Reads the extra field of a gzip header, if one is within `head`, looking for BC with SLEN 2. */
function hasBgzfField(head: Uint8Array): boolean {
  if (head.length < 12 || head[2] !== 8 || ((head[3] ?? 0) & 0x04) === 0) return false;
  const extraEnd = Math.min(head.length, 12 + readUint16(head, 10));
  for (let at = 12; at + 4 <= extraEnd; at += 4 + readUint16(head, at + 2)) {
    if (head[at] === 0x42 && head[at + 1] === 0x43 && readUint16(head, at + 2) === 2) return true;
  }
  return false;
}

/**
 * Detects the content format of a prefix. `complete` says the prefix is the whole content, so a last
 * line without a newline is a whole line.
 */
export function detectFormat(prefix: Uint8Array, complete: boolean): ContentGuess {
  const format = detectMagic(prefix) ?? detectTextFormat(prefix, complete) ?? 'unknown';
  if (format !== 'unknown') return { format, textual: !BINARY_FORMATS.has(format) };
  return { format, textual: looksLikeText(prefix) };
}

function detectMagic(prefix: Uint8Array): DetectedFormat | undefined {
  if (startsWith(prefix, 0, '%PDF-')) return 'pdf';
  if (startsWith(prefix, 0, 'CRAM')) return 'cram';
  if (startsWith(prefix, 0, 'PAR1')) return 'parquet';
  if (startsWith(prefix, 0, 'BAM\x01')) return 'bam';
  if (startsWith(prefix, 0, 'BCF\x02')) return 'bcf';
  // DICOM Part 10: a 128-byte preamble, then the prefix "DICM".
  if (startsWith(prefix, 128, 'DICM')) return 'dicom';
  return undefined;
}

/** Text when there is no NUL and at most 1 in 20 bytes are control characters other than tab, CR, LF. */
function looksLikeText(prefix: Uint8Array): boolean {
  if (prefix.length === 0) return false;
  let control = 0;
  for (const byte of prefix) {
    if (byte === 0) return false;
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) control += 1;
  }
  return control * 20 <= prefix.length;
}

function startsWith(bytes: Uint8Array, at: number, magic: string): boolean {
  if (bytes.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i += 1) if (bytes[at + i] !== magic.charCodeAt(i)) return false;
  return true;
}

function readUint16(bytes: Uint8Array, at: number): number {
  return (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8);
}
