// Content inspector benchmark (not a test): MiB/s of createInspector in full mode over 256 MiB of
// generated CSV text and of VCF text, written in 64 KiB chunks as the upload pipeline writes them,
// next to a baseline measured in the same run over the same buffers: SHA-256, which the pipeline pays
// for every upload anyway. Compare the ratio; these machines are noisy. Each figure is the best of
// BENCH_ROUNDS rounds (default 3). Target (issue 15): inspector ≥ 0.8 × SHA-256, for CSV and for VCF.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/inspector-throughput.js
import { createHash } from 'node:crypto';
import { createInspector } from '../gateway/inspect/create-inspector.js';
import type { DeclaredDataset } from '../gateway/inspect/inspection-report.js';
import { reportResult } from './support/report.js';

const MIB = 1024 * 1024;
const TOTAL_MIB = Number(process.env.BENCH_MIB ?? 256);
const CHUNK = 64 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET_RATIO = 0.8;

/** xorshift32: the same data on every run. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** Fills `total` MiB, one MiB buffer at a time, with whole lines from `line`. */
function generate(header: string, line: (random: () => number, row: number) => string, seed: number): Buffer[] {
  const random = createRandom(seed);
  const buffers: Buffer[] = [];
  let row = 0;
  let carry = header;
  for (let i = 0; i < TOTAL_MIB; i += 1) {
    const parts: string[] = [carry];
    let length = carry.length;
    while (length < MIB) {
      const next = line(random, row);
      row += 1;
      parts.push(next);
      length += next.length;
    }
    const text = parts.join('');
    buffers.push(Buffer.from(text.slice(0, MIB), 'latin1'));
    carry = text.slice(MIB);
  }
  return buffers;
}

const GENES = ['BRCA1', 'TP53', 'EGFR', 'KRAS', 'ALK', 'MYC', 'PTEN', 'APC'];
const SITES = ['Shenzhen', 'Hong Kong', 'Guangzhou', 'Futian', 'Sha Tin'];

function csvLine(random: () => number, row: number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const date = `${1940 + Math.floor(random() * 70)}-${String(1 + Math.floor(random() * 12)).padStart(2, '0')}-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}`;
  return `P${String(row).padStart(8, '0')},${date},${random() < 0.5 ? 'F' : 'M'},${(150 + random() * 40).toFixed(1)},${(45 + random() * 50).toFixed(1)},${pick(GENES)},${Math.floor(random() * 250_000_000)},${random().toFixed(4)},${pick(SITES)},${random() < 0.3 ? 'positive' : 'negative'}\n`;
}

const SAMPLES = 20;
const BASES = ['A', 'C', 'G', 'T'];
const GENOTYPES = ['0|0', '0|0', '0|0', '0|1', '1|0', '1|1'];

function vcfLine(random: () => number, row: number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const samples = Array.from({ length: SAMPLES }, () => `${pick(GENOTYPES)}:${Math.floor(random() * 60)}:${Math.floor(random() * 99)}`);
  return `chr${1 + (row % 22)}\t${10_000 + row * 37}\trs${100_000 + row}\t${pick(BASES)}\t${pick(BASES)}\t${Math.floor(random() * 100)}\tPASS\tAF=${random().toFixed(3)};DP=${Math.floor(random() * 900)}\tGT:DP:GQ\t${samples.join('\t')}\n`;
}

const VCF_HEADER = `##fileformat=VCFv4.3\n##source=bench\n${Array.from({ length: 22 }, (_, i) => `##contig=<ID=chr${i + 1}>`).join('\n')}\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t${Array.from({ length: SAMPLES }, (_, i) => `S${i + 1}`).join('\t')}\n`;

function best(run: () => void): number {
  let fastest = Infinity;
  for (let round = 0; round < ROUNDS; round += 1) {
    const started = process.hrtime.bigint();
    run();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1e9);
  }
  return TOTAL_MIB / fastest;
}

function forEachChunk(buffers: readonly Buffer[], visit: (chunk: Buffer) => void): void {
  for (const buffer of buffers) for (let at = 0; at < buffer.length; at += CHUNK) visit(buffer.subarray(at, at + CHUNK));
}

function measure(name: string, buffers: readonly Buffer[], declared: DeclaredDataset): { name: string; sha: number; inspector: number; findings: string } {
  const sha = best(() => {
    const hash = createHash('sha256');
    forEachChunk(buffers, (chunk) => hash.update(chunk));
    hash.digest();
  });
  let findings = '';
  const inspector = best(() => {
    const inspection = createInspector({ declared, mode: 'full' });
    forEachChunk(buffers, (chunk) => inspection.write(chunk));
    const report = inspection.finish();
    if (report.bytesScanned !== TOTAL_MIB * MIB) throw new Error(`${name}: scanned ${report.bytesScanned} bytes, not all`);
    findings = `${report.detectedFormat}, ${report.findings.map((f) => `${f.kind}×${f.count}`).join(' ') || 'no findings'}`;
  });
  return { name, sha, inspector, findings };
}

function main(): void {
  const declared: DeclaredDataset = { format: 'csv', subjects: 1_000_000, humanGeneticResources: true, deidentification: 'pseudonymised', category: 'genomics' };
  console.log(`generating ${TOTAL_MIB} MiB of CSV and of VCF…`);
  const rows: ReturnType<typeof measure>[] = [];
  rows.push(measure('CSV', generate('patient,birth_date,sex,height_cm,weight_kg,gene,position,score,site,result\n', csvLine, 7), declared));
  rows.push(measure('VCF', generate(VCF_HEADER, vcfLine, 11), { ...declared, format: 'vcf' }));
  console.log(`\n${TOTAL_MIB} MiB in ${CHUNK / 1024} KiB chunks, best of ${ROUNDS}, node ${process.version}\n`);
  console.log(`| data | SHA-256 (baseline) MiB/s | inspector (full) MiB/s | inspector / SHA-256 | target ≥ ${TARGET_RATIO}× | detected |`);
  console.log('| --- | ---: | ---: | ---: | --- | --- |');
  for (const row of rows) {
    const ratio = row.inspector / row.sha;
    const met = ratio >= TARGET_RATIO;
    console.log(`| ${row.name} | ${row.sha.toFixed(0)} | ${row.inspector.toFixed(0)} | ${ratio.toFixed(2)} | ${met ? 'met' : '**not met**'} | ${row.findings} |`);
    reportResult({
      area: 'inspector (issue 15)',
      name: `full inspection, ${row.name}`,
      value: row.inspector,
      unit: 'MiB/s',
      baseline: { name: 'SHA-256 of the same bytes', value: row.sha },
      target: { text: `≥ ${TARGET_RATIO}× SHA-256`, met },
    });
  }
}

main();
