// A FIFO of byte chunks from which exact-length pieces are taken: how envelope readers cut an
// arbitrarily chunked byte stream into prefix, header and segments without copying more than needed.

export interface ByteQueue {
  readonly length: number;
  push(chunk: Uint8Array): void;
  /** The next `count` bytes (count ≤ length) as one buffer: a view when one chunk holds them all, else a copy. */
  take(count: number): Buffer;
  /** The next `count` bytes (count ≤ length) as views into the queued chunks, without copying. */
  takePieces(count: number): Buffer[];
}

export function createByteQueue(): ByteQueue {
  const chunks: Buffer[] = [];
  let length = 0;
  return {
    get length() {
      return length;
    },
    push(chunk) {
      if (chunk.length === 0) return;
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      length += chunk.length;
    },
    take(count) {
      const pieces = this.takePieces(count);
      return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, count);
    },
    takePieces(count) {
      if (count > length) throw new RangeError(`take(${count}) from ${length} queued bytes`);
      length -= count;
      const pieces: Buffer[] = [];
      for (let missing = count; missing > 0; ) {
        const chunk = chunks[0] as Buffer;
        if (chunk.length <= missing) {
          pieces.push(chunk);
          chunks.shift();
          missing -= chunk.length;
        } else {
          pieces.push(chunk.subarray(0, missing));
          chunks[0] = chunk.subarray(missing);
          missing = 0;
        }
      }
      return pieces;
    },
  };
}
