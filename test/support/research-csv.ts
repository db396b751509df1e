// Research CSV of a given size for upload tests: every row different, so a reordered or repeated
// segment never decrypts to the same bytes.

/** About `bytes` bytes (at least that many) of anonymised research CSV. */
export function researchRows(bytes: number): Buffer {
  const head = 'site,age_band,score,note\n';
  const rows = [head];
  for (let i = 0, length = head.length; length < bytes; i += 1) {
    const row = `site-${i % 17},${20 + (i % 50)},${(i * 7919) % 1000},row ${i}\n`;
    rows.push(row);
    length += row.length;
  }
  return Buffer.from(rows.join(''));
}
