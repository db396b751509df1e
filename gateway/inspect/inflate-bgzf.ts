// Inflates the beginning of a BGZF stream (bgzip, BAM, tabix-indexed VCF) block by block as it
// streams. Every BGZF block is a complete gzip member of at most 64 KiB whose size is in its BC extra
// field, so one block is buffered and inflated on its own (synchronously), and nothing else is kept.
// Stops after `outputBytes` of inflated content or at the first block that is not BGZF.
import { inflateRawSync } from 'node:zlib';

export interface PrefixInflater {
  write(bytes: Uint8Array): void;
  finish(): void;
  /** Inflated bytes handed on. */
  readonly bytesInflated: number;
  /** The compressed data could not be read (not BGZF/gzip, or corrupt) before the budget was spent. */
  readonly failed: boolean;
  /** Compressed input went unread: the budget ran out or reading failed before the end. */
  readonly stoppedEarly: boolean;
}

export interface PrefixInflaterOptions {
  readonly outputBytes: number;
  readonly onOutput: (bytes: Uint8Array) => void;
}

const MAX_BLOCK = 65536;
const FIXED_HEADER = 12;
const TRAILER = 8;

/** A BGZF inflater that hands inflated bytes to `onOutput` as each block completes. */
export function createBgzfInflater(options: PrefixInflaterOptions): PrefixInflater {
  const block = new Uint8Array(MAX_BLOCK);
  let phase: 'header' | 'extra' | 'body' = 'header';
  let filled = 0;
  let needed = FIXED_HEADER;
  let bytesInflated = 0;
  let done = false;
  let failed = false;
  let stoppedEarly = false;

  const stop = (failure: boolean): void => {
    done = true;
    failed = failure;
  };

  /** Called whenever `filled` reaches `needed`: moves on to the next part of the block. */
  const advance = (): void => {
    switch (phase) {
      case 'header':
        if (block[0] !== 0x1f || block[1] !== 0x8b || block[2] !== 8 || ((block[3] ?? 0) & 0x04) === 0) return stop(true);
        needed = FIXED_HEADER + readUint16(block, 10);
        if (needed + TRAILER > MAX_BLOCK) return stop(true);
        phase = 'extra';
        return;
      case 'extra': {
        const blockSize = findBlockSize(block, needed);
        if (blockSize < needed + TRAILER) return stop(true);
        needed = blockSize;
        phase = 'body';
        return;
      }
      case 'body':
        inflateBlock();
        phase = 'header';
        filled = 0;
        needed = FIXED_HEADER;
    }
  };

  const inflateBlock = (): void => {
    const extraEnd = FIXED_HEADER + readUint16(block, 10);
    let output: Buffer;
    try {
      output = inflateRawSync(block.subarray(extraEnd, needed - TRAILER), { maxOutputLength: MAX_BLOCK });
    } catch {
      return stop(true);
    }
    const take = Math.min(output.length, options.outputBytes - bytesInflated);
    if (take > 0) {
      bytesInflated += take;
      options.onOutput(output.subarray(0, take));
    }
    if (bytesInflated >= options.outputBytes) stop(false);
  };

  return {
    write(bytes) {
      for (let at = 0; at < bytes.length; ) {
        if (done) {
          stoppedEarly = true;
          return;
        }
        const take = Math.min(bytes.length - at, needed - filled);
        block.set(bytes.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === needed) advance();
      }
    },
    finish() {
      done = true;
    },
    get bytesInflated() {
      return bytesInflated;
    },
    get failed() {
      return failed;
    },
    get stoppedEarly() {
      return stoppedEarly || failed;
    },
  };
}

/** BSIZE + 1 from the BC subfield of an extra field ending at `extraEnd`; 0 if there is none. */
function findBlockSize(block: Uint8Array, extraEnd: number): number {
  for (let at = FIXED_HEADER; at + 4 <= extraEnd; at += 4 + readUint16(block, at + 2)) {
    if (block[at] === 0x42 && block[at + 1] === 0x43 && readUint16(block, at + 2) === 2) return readUint16(block, at + 4) + 1;
  }
  return 0;
}

function readUint16(bytes: Uint8Array, at: number): number {
  return (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8);
}
