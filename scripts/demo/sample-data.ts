// Small generated datasets for the demo: nothing real, nothing read from disk.

/**
 * A mainland resident identity number: 17 digits (region, birth date, sequence) and the ISO 7064
 * MOD 11-2 check character, so the inspector recognises it as a real one and not a random number.
 */
export function mainlandId(body17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body17].reduce((total, digit, i) => total + Number(digit) * (weights[i] ?? 0), 0);
  return body17 + '10X98765432'[sum % 11];
}

/** An exome VCF with `samples` pseudonymised sample columns and `rows` variants. */
export function exomeVcf(samples: number, rows: number): Buffer {
  const names = Array.from({ length: samples }, (_, i) => `P${String(i + 1).padStart(3, '0')}`);
  const lines = [
    '##fileformat=VCFv4.2',
    '##source=hetao-demo',
    '##contig=<ID=chr17>',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t'),
  ];
  const genotypes = ['0/0', '0/1', '1/1'];
  for (let i = 0; i < rows; i += 1) {
    const calls = names.map((_, s) => genotypes[(i * 7 + s * 3) % genotypes.length] ?? '0/0');
    lines.push(['chr17', String(43_044_295 + i * 17), '.', 'G', 'A', '60', 'PASS', 'DP=42', 'GT', ...calls].join('\t'));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Identity numbers that slipped into the free-text column of a CSV declared anonymised. */
export const LEAKED_IDS = [mainlandId('44030419850612123'), mainlandId('11010519491231002'), mainlandId('31011519900307456')];

/** A research CSV of `rows` rows, "anonymised", except that three notes carry identity numbers. */
export function csvWithLeakedIds(rows: number): Buffer {
  const lines = ['site,age_band,score,note'];
  for (let i = 0; i < rows; i += 1) {
    const leaked = i % 97 === 11 ? LEAKED_IDS[Math.floor(i / 97)] : undefined;
    lines.push(`site-${i % 7},${20 + (i % 5) * 10}-${29 + (i % 5) * 10},${(i * 37) % 100},${leaked ? `follow-up ${leaked}` : 'ok'}`);
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}
