// Byte counting for progress reports, without buffering: chunks pass through as they come.
import { Transform } from 'node:stream';

/** Called with the bytes done so far and the total expected. */
export type ProgressCallback = (doneBytes: number, totalBytes: number) => void;

/** Yields `source`'s chunks unchanged, reporting the running count after each. */
export async function* countChunks(source: AsyncIterable<Uint8Array>, totalBytes: number, onProgress: ProgressCallback): AsyncGenerator<Uint8Array> {
  let done = 0;
  for await (const chunk of source) {
    done += chunk.length;
    yield chunk;
    // Reported once the consumer has taken the chunk, so the count follows what was really sent.
    onProgress(done, totalBytes);
  }
}

/** A pass-through Transform that reports the running count of the bytes it has passed on. */
export function byteCounter(totalBytes: number, onProgress: ProgressCallback): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      onProgress(done, totalBytes);
      callback(null, chunk);
    },
  });
}
