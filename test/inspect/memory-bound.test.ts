// Memory does not grow with the input: 256 MiB of CSV through one inspector in 64 KiB chunks keeps the
// process's resident set within a small bound of where it started. Not timed.
import { describe, expect, it } from 'vitest';
import { createInspector } from '../../gateway/inspect/create-inspector.js';
import { declared } from './support.js';

const CHUNK = 64 * 1024;
const TOTAL = 256 * 1024 * 1024;
const RSS_GROWTH_BOUND = 16 * 1024 * 1024;

/** Sixteen different 64 KiB pieces of one CSV table, cycled: generated once, so the test allocates nothing per chunk. */
function csvChunks(): Buffer[] {
  let row = 0;
  const text = ['subject,birth_date,sex,height_cm,weight_kg,gene,position,score,site'];
  let length = 0;
  while (length < 16 * CHUNK + 200) {
    const line = `S${String(row).padStart(7, '0')},19${50 + (row % 50)}-0${1 + (row % 9)}-1${row % 10},${row % 2 ? 'F' : 'M'},${150 + (row % 40)}.${row % 10},${45 + (row % 50)}.5,BRCA${1 + (row % 2)},${(row * 7919) % 248_956_422},0.${row % 9973},Shenzhen`;
    text.push(line);
    length += line.length + 1;
    row += 1;
  }
  const all = Buffer.from(`${text.join('\n')}\n`);
  return Array.from({ length: 16 }, (_, i) => all.subarray(i * CHUNK, (i + 1) * CHUNK));
}

describe('memory', () => {
  it(`stays within ${RSS_GROWTH_BOUND / 1024 / 1024} MiB of RSS growth over 256 MiB of CSV`, () => {
    const chunks = csvChunks();
    const warmUp = createInspector({ declared: declared({ format: 'csv' }), mode: 'full' });
    for (let i = 0; i < 256; i += 1) warmUp.write(chunks[i % 16] as Buffer);
    warmUp.finish();

    const inspector = createInspector({ declared: declared({ format: 'csv' }), mode: 'full' });
    const start = process.memoryUsage.rss();
    let peak = start;
    for (let i = 0; i < TOTAL / CHUNK; i += 1) {
      inspector.write(chunks[i % 16] as Buffer);
      if (i % 256 === 0) peak = Math.max(peak, process.memoryUsage.rss());
    }
    const report = inspector.finish();
    peak = Math.max(peak, process.memoryUsage.rss());

    expect(report).toMatchObject({ detectedFormat: 'csv', bytesSeen: TOTAL, bytesScanned: TOTAL });
    expect(peak - start).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
