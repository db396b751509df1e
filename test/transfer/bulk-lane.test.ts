// The slow lane lets a bounded number of bulk chunks through per turn of the event loop, in order,
// and a gated pipeline still carries every byte.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createBulkLane } from '../../gateway/transfer/bulk-lane.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('bulk lane', () => {
  it('admits at most chunksPerTurn chunks per event-loop turn, first come first served', async () => {
    const lane = createBulkLane({ chunksPerTurn: 2 });
    const admitted: number[] = [];
    for (let i = 0; i < 5; i += 1) void lane.turn().then(() => admitted.push(i));
    await Promise.resolve();
    expect(admitted).toEqual([0, 1]);
    await nextTurn();
    expect(admitted).toEqual([0, 1, 2, 3]);
    await nextTurn();
    expect(admitted).toEqual([0, 1, 2, 3, 4]);
  });

  it('narrows to one chunk per turn while an interactive request is in flight, and widens again after', async () => {
    const lane = createBulkLane({ chunksPerTurn: 3 });
    const end = lane.interactive();
    const admitted: number[] = [];
    for (let i = 0; i < 6; i += 1) void lane.turn().then(() => admitted.push(i));
    await Promise.resolve();
    expect(admitted).toEqual([0]);
    await nextTurn();
    expect(admitted).toEqual([0, 1]);
    end();
    end(); // ending twice changes nothing
    await nextTurn();
    expect(admitted).toEqual([0, 1, 2, 3, 4]);
  });

  it('carries every byte of a gated stream, in order', async () => {
    const lane = createBulkLane({ chunksPerTurn: 1 });
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`chunk-${i};`));
    const received: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      lane.gate(),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received.push(chunk);
          callback();
        },
      }),
    );
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
  });
});
