// Sealing an envelope body: plaintext in (chunks of any size), sealed segments out, the plaintext
// hashed on the way. Synchronous and stream-free, so the same code seals on the event loop (the body
// stream of encrypt-envelope) and in a sealing thread (transfer/sealing-threads).
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { createByteQueue } from './byte-queue.js';
import { createSegmentCipher, MAX_SEGMENTS, TAG_BYTES } from './stream-aead.js';

/** What sealing a body needs. Holds the data key: keep it in memory only. */
export interface BodySealingParams {
  readonly dataKey: Uint8Array;
  readonly salt: Uint8Array;
  readonly noncePrefix: Uint8Array;
  readonly bindingHash: Uint8Array;
  readonly segmentSize: number;
}

/** What the signed header says of a sealed body. */
export interface BodyTotals {
  readonly plaintextSize: number;
  /** SHA-256 of the plaintext, hex. */
  readonly sha256: string;
  readonly segmentCount: number;
}

/** A body sealer of one format (ours here; Crypt4GH's in crypt4gh/seal-crypt4gh-body.ts), reporting `Totals`. */
export interface SegmentSealer<Totals> {
  /**
   * Takes the next plaintext bytes; returns the sealed pieces of the segments they complete. The
   * bytes of the segment not sealed yet are held as views, not copied: the caller must not reuse a
   * written buffer before a later `write` has sealed past it, or `end`.
   * @throws GatewayError `ERR_ENVELOPE_SIZE` past 2³²−1 segments (our format).
   */
  write(chunk: Uint8Array): Buffer[];
  /**
   * Resuming an upload: takes the stored sealed bytes of the body's first segments (in chunks of any
   * size; whole segments in all, none of them final), opens them, hashes and counts them as if they
   * had been written, and returns their plaintext (views to pass on, not to keep). Only before the
   * first `write`.
   * @throws GatewayError ERR_ENVELOPE_SEGMENT / ERR_CRYPT4GH_SEGMENT when a stored segment does not open (another key, altered bytes).
   */
  replay(sealed: Uint8Array): Buffer[];
  /** Seals what is left: our last segment, flagged final (empty for an empty body); Crypt4GH's short last one, if any. */
  end(): Buffer[];
  /** After `end`. */
  totals(): Totals;
}

export type BodySealer = SegmentSealer<BodyTotals>;

/** Stored bytes of one full segment of `segmentSize` plaintext bytes (ciphertext and tag). */
export function sealedSegmentSize(segmentSize: number): number {
  return segmentSize + TAG_BYTES;
}

/** The caller may zero `params.dataKey` once this returns: only the derived segment key is kept. */
export function createBodySealer(params: BodySealingParams): BodySealer {
  const { segmentSize } = params;
  const cipher = createSegmentCipher(params);
  const digest = createHash('sha256');
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let plaintextSize = 0;
  let segmentCount = 0;
  let sha256: string | undefined;
  const replayed = createByteQueue();
  let writing = false;

  const sealHeld = (isFinal: boolean, out: Buffer[]): void => {
    if (segmentCount >= MAX_SEGMENTS) throw new GatewayError('ERR_ENVELOPE_SIZE', `a transfer holds at most ${MAX_SEGMENTS} segments`);
    for (const piece of cipher.seal(segmentCount, isFinal, held)) out.push(piece);
    segmentCount += 1;
    held = [];
    heldBytes = 0;
  };

  return {
    replay(sealed) {
      if (writing) throw new GatewayError('ERR_INTERNAL', 'replay() after write()');
      replayed.push(sealed);
      const out: Buffer[] = [];
      while (replayed.length >= sealedSegmentSize(segmentSize)) {
        for (const piece of cipher.open(segmentCount, false, replayed.takePieces(sealedSegmentSize(segmentSize)))) {
          digest.update(piece);
          plaintextSize += piece.length;
          out.push(piece);
        }
        segmentCount += 1;
      }
      return out;
    },
    write(chunk) {
      if (sha256 !== undefined) throw new GatewayError('ERR_INTERNAL', 'write() after the body ended');
      if (!writing && replayed.length > 0) throw new GatewayError('ERR_INTERNAL', 'the replayed bytes end inside a segment');
      writing = true;
      const out: Buffer[] = [];
      digest.update(chunk);
      plaintextSize += chunk.length;
      // A segment is sealed only once a later byte exists, so that the last one can be flagged final.
      for (let offset = 0; offset < chunk.length; ) {
        if (heldBytes === segmentSize) sealHeld(false, out);
        const take = Math.min(segmentSize - heldBytes, chunk.length - offset);
        held.push(chunk.subarray(offset, offset + take));
        heldBytes += take;
        offset += take;
      }
      return out;
    },
    end() {
      if (sha256 !== undefined) throw new GatewayError('ERR_INTERNAL', 'end() called twice');
      const out: Buffer[] = [];
      sealHeld(true, out);
      sha256 = digest.digest('hex');
      return out;
    },
    totals() {
      if (sha256 === undefined) throw new GatewayError('ERR_INTERNAL', 'totals() before the body ended');
      return { plaintextSize, sha256, segmentCount };
    },
  };
}
