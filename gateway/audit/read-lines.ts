// Splits a byte stream into lines on '\n' without decoding or normalising anything: the export
// verifier hashes exact bytes, and journal readers need to know whether the last line was complete.
import type { Readable } from 'node:stream';

export interface RawLine {
  /** The line's bytes, without its '\n'. */
  readonly bytes: Buffer;
  /** Byte offset of the line's first byte in the stream. */
  readonly offset: number;
  /** False only for a last line that ended without '\n'. */
  readonly terminated: boolean;
}

/**
 * Yields the lines of `stream`. A line longer than `maxLineBytes` throws (a bound on memory when the
 * input is hostile).
 */
export async function* readLines(stream: Readable | AsyncIterable<Buffer | string>, maxLineBytes = 16 * 1024 * 1024): AsyncGenerator<RawLine> {
  let carry: Buffer[] = [];
  let carryLength = 0;
  let offset = 0;
  for await (const piece of stream) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, newline);
      const bytes = carryLength === 0 ? part : Buffer.concat([...carry, part]);
      carry = [];
      carryLength = 0;
      yield { bytes, offset, terminated: true };
      offset += bytes.length + 1;
      start = newline + 1;
    }
    if (start < chunk.length) {
      carry.push(chunk.subarray(start));
      carryLength += chunk.length - start;
      if (carryLength > maxLineBytes) throw new RangeError(`a line at byte ${offset} is longer than ${maxLineBytes} bytes`);
    }
  }
  if (carryLength > 0) yield { bytes: Buffer.concat(carry), offset, terminated: false };
}
