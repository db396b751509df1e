// Builders for inspector tests: running the inspector over chunked input, declarations, realistic
// samples of each format (BGZF and BAM built here with node:zlib), and identity numbers computed by
// implementations independent of the gateway's.
import { crc32, deflateRawSync } from 'node:zlib';
import { createInspector } from '../../gateway/inspect/create-inspector.js';
import type { DeclaredDataset, InspectionReport, InspectorOptions } from '../../gateway/inspect/inspection-report.js';

export const DECLARED: DeclaredDataset = {
  format: 'other',
  subjects: 100,
  humanGeneticResources: true,
  deidentification: 'identified',
  category: 'research-other',
};

/** The declaration with some fields changed. */
export function declared(changes: Partial<DeclaredDataset> = {}): DeclaredDataset {
  return { ...DECLARED, ...changes };
}

export type Chunking = number | readonly number[];

/** Runs an inspector over `input`, cut into chunks of `chunking` bytes (or these sizes, repeated). */
export function inspect(input: Uint8Array | string, chunking: Chunking = 65536, options: Partial<InspectorOptions> = {}): InspectionReport {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const inspector = createInspector({ declared: DECLARED, mode: 'full', ...options });
  const sizes = typeof chunking === 'number' ? [chunking] : chunking;
  for (let at = 0, i = 0; at < bytes.length; i += 1) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    inspector.write(bytes.subarray(at, at + size));
    at += size;
  }
  return inspector.finish();
}

/** Counts of each finding kind, for compact assertions. */
export function counts(report: InspectionReport): Record<string, number> {
  return Object.fromEntries(report.findings.map((f) => [f.kind, f.count]));
}

/** A mainland resident identity number: check character by ISO 7064 MOD 11-2, weights 2^(17-i) mod 11. */
export function mainlandId(region: string, birthDate: string, sequence: string): string {
  const body = `${region}${birthDate}${sequence}`;
  if (!/^\d{17}$/.test(body)) throw new Error(`not 17 digits: ${body}`);
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(body[i]) * (2 ** (17 - i) % 11);
  return body + '10X98765432'.charAt(sum % 11);
}

/** The same number with a wrong check character. */
export function withWrongCheck(id: string): string {
  const check = id.charAt(17);
  return id.slice(0, 17) + (check === '0' ? '1' : '0');
}

/** An HKID check character: a lone letter stands after a space (36); A=10 … Z=35; weights 9…2; 11 − sum mod 11. */
export function hkidCheck(letters: string, digits: string): string {
  const padded = letters.length === 1 ? ` ${letters}` : letters;
  const values = [...padded].map((c) => (c === ' ' ? 36 : c.charCodeAt(0) - 55)).concat([...digits].map(Number));
  const sum = values.reduce((total, value, i) => total + value * (9 - i), 0);
  const check = (11 - (sum % 11)) % 11;
  return check === 10 ? 'A' : String(check);
}

/** A BGZF block (SAM/BAM spec §4.1): gzip member with the BC extra subfield holding the block size − 1. */
export function bgzfBlock(data: Uint8Array): Buffer {
  const compressed = deflateRawSync(data);
  const header = Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 0x42, 0x43, 2, 0, 0, 0]);
  header.writeUInt16LE(header.length + compressed.length + 8 - 1, 16);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, compressed, trailer]);
}

/** bgzip: BGZF blocks of at most 65280 input bytes, then the empty end-of-file block. */
export function bgzip(data: Uint8Array | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const blocks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 65280) blocks.push(bgzfBlock(bytes.subarray(at, at + 65280)));
  blocks.push(bgzfBlock(new Uint8Array()));
  return Buffer.concat(blocks);
}

/** The start of a BAM file: magic, SAM header text, one reference. */
export function bamHeader(): Buffer {
  const text = Buffer.from('@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:248956422\n@RG\tID:rg1\tSM:sample1\n');
  const name = Buffer.from('chr1\0');
  const parts = [Buffer.from('BAM\x01', 'latin1'), uint32(text.length), text, uint32(1), uint32(name.length), name, uint32(248956422)];
  return Buffer.concat(parts);
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}

export const VCF_COLUMNS = '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT';

/** A small VCF with `samples` sample columns and `rows` data lines. */
export function vcfText(samples: number, rows = 20, extraHeader = ''): string {
  const names = Array.from({ length: samples }, (_, i) => `\tS${i + 1}`).join('');
  const lines = Array.from({ length: rows }, (_, r) => {
    const genotypes = Array.from({ length: samples }, (_, s) => `\t${(r + s) % 3 === 0 ? '0/1' : '0/0'}:${10 + ((r * 7 + s) % 50)}:99`).join('');
    return `chr${1 + (r % 22)}\t${1_000_000 + r * 1234}\trs${7_000_000 + r}\tA\tG\t${50 + r}\tPASS\tAF=0.${r + 10};DP=${200 + r}\tGT:DP:GQ${genotypes}`;
  });
  return `##fileformat=VCFv4.2\n##source=test\n##contig=<ID=chr1,length=248956422>\n${extraHeader}${VCF_COLUMNS}${names}\n${lines.join('\n')}\n`;
}

/** FASTQ records with Phred+33 qualities that include '@', '.', digits and capitals, as real ones do. */
export function fastqText(reads: number, header = (i: number) => `@A00123:45:HXXXXDSXY:1:1101:${1000 + i}:${2000 + i} 1:N:0:ACGTACGT`): string {
  const qualityAlphabet = '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJ';
  const records: string[] = [];
  for (let i = 0; i < reads; i += 1) {
    const sequence = Array.from({ length: 100 }, (_, j) => 'ACGTN'.charAt((i * 31 + j * 7) % 5)).join('');
    const quality = Array.from({ length: 100 }, (_, j) => qualityAlphabet.charAt((i * 17 + j * 13 + ((i * j) % 11)) % qualityAlphabet.length)).join('');
    records.push(`${header(i)}\n${sequence}\n+\n${quality}\n`);
  }
  return records.join('');
}
