// Inflates the beginning of a plain gzip stream (one deflate stream, not BGZF) within fixed bounds.
// node:zlib has no synchronous streaming inflater in its public API, and the inspector's write() must
// stay synchronous, so this keeps the first `inputBytes` of compressed data and inflates the prefix it
// has at doubling sizes (64 KiB, 128 KiB, … and at the end), each time with Z_SYNC_FLUSH (a cut-off
// stream is not an error) and maxOutputLength (a zip bomb stops at the budget instead of filling
// memory). Each stage hands on only the bytes beyond what the last one produced; re-inflating from the
// start costs at most twice the work of one pass.
import { constants, gunzipSync } from 'node:zlib';
import type { PrefixInflater, PrefixInflaterOptions } from './inflate-bgzf.js';

export interface GzipPrefixInflaterOptions extends PrefixInflaterOptions {
  /** Compressed bytes kept, at most. */
  readonly inputBytes: number;
}

const FIRST_STAGE = 64 * 1024;
/**
 * When even the first stage inflates past the budget, halving prefixes are tried down to this. Deflate
 * expands at most about 1032:1, so a prefix this short always fits a budget of 64 KiB or more.
 */
const SMALLEST_PREFIX = 32;

/** A gzip inflater that hands inflated bytes to `onOutput` at each stage. */
export function createGzipPrefixInflater(options: GzipPrefixInflaterOptions): PrefixInflater {
  let input: Uint8Array | undefined = new Uint8Array(options.inputBytes);
  let filled = 0;
  let nextStage = Math.min(FIRST_STAGE, options.inputBytes);
  let bytesInflated = 0;
  let failed = false;
  let stoppedEarly = false;

  const inflate = (compressed: Uint8Array): Buffer | 'too-large' | 'corrupt' => {
    try {
      return gunzipSync(compressed, {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: options.outputBytes,
      });
    } catch (error) {
      return (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'too-large' : 'corrupt';
    }
  };

  const handOn = (output: Buffer): void => {
    if (output.length > bytesInflated) options.onOutput(output.subarray(bytesInflated));
    bytesInflated = Math.max(bytesInflated, output.length);
  };

  const stop = (): void => {
    input = undefined;
  };

  /** Inflates the compressed prefix; `last` when no more will come. */
  const runStage = (compressed: Uint8Array, last: boolean): void => {
    const output = inflate(compressed);
    if (output === 'corrupt') {
      failed = bytesInflated === 0;
      stoppedEarly = true;
      return stop();
    }
    if (output === 'too-large') {
      stoppedEarly = true;
      for (let shorter = compressed.length >> 1; bytesInflated === 0 && shorter >= SMALLEST_PREFIX; shorter >>= 1) {
        const retry = inflate(compressed.subarray(0, shorter));
        if (retry === 'corrupt') break;
        if (retry !== 'too-large') handOn(retry);
      }
      return stop();
    }
    handOn(output);
    if (last || compressed.length >= options.inputBytes || bytesInflated >= options.outputBytes) return stop();
    nextStage = Math.min(compressed.length * 2, options.inputBytes);
  };

  return {
    write(bytes) {
      if (!input) {
        if (bytes.length > 0) stoppedEarly = true;
        return;
      }
      const take = Math.min(bytes.length, input.length - filled);
      input.set(bytes.subarray(0, take), filled);
      filled += take;
      if (filled >= nextStage) runStage(input.subarray(0, filled), false);
      if (take < bytes.length) stoppedEarly = true;
    },
    finish() {
      if (input && filled > 0) runStage(input.subarray(0, filled), true);
      stop();
    },
    get bytesInflated() {
      return bytesInflated;
    },
    get failed() {
      return failed;
    },
    get stoppedEarly() {
      return stoppedEarly;
    },
  };
}
