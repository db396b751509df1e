// Sealing a body as Crypt4GH v1 data segments: plaintext in (chunks of any size), sealed 64 KiB
// segments out, the plaintext hashed on the way and the sealed data section hashed too. Synchronous
// and stream-free, like envelope/seal-body.ts, so it serves the event loop and a sealing thread alike.
// The two digests and the segment count go into the gateway's signed binding header: with them a
// reader detects the truncation, reordering and substitution of whole segments that Crypt4GH alone
// does not (docs/crypt4gh.md).
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { createByteQueue } from '../envelope/byte-queue.js';
import type { SegmentSealer } from '../envelope/seal-body.js';
import { openCrypt4ghSegment, SEALED_SEGMENT_BYTES, sealCrypt4ghSegment, SEGMENT_PLAINTEXT_BYTES } from './crypt4gh-format.js';

export interface Crypt4ghBodyTotals {
  readonly plaintextSize: number;
  /** SHA-256 of the plaintext, hex. */
  readonly sha256: string;
  readonly segmentCount: number;
  /** SHA-256 of the sealed data section (every segment's nonce ‖ ciphertext ‖ tag, in order), hex. */
  readonly dataSha256: string;
}

export type Crypt4ghBodySealer = SegmentSealer<Crypt4ghBodyTotals>;

/** `dataKey` is kept until `end`, then zeroed. */
export function createCrypt4ghBodySealer(dataKey: Uint8Array): Crypt4ghBodySealer {
  const plaintextDigest = createHash('sha256');
  const dataDigest = createHash('sha256');
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let plaintextSize = 0;
  let segmentCount = 0;
  let totals: Crypt4ghBodyTotals | undefined;
  const replayed = createByteQueue();
  let writing = false;

  const sealHeld = (out: Buffer[]): void => {
    for (const piece of sealCrypt4ghSegment(dataKey, held)) {
      dataDigest.update(piece);
      out.push(piece);
    }
    segmentCount += 1;
    held = [];
    heldBytes = 0;
  };

  return {
    replay(sealed) {
      if (writing) throw new GatewayError('ERR_INTERNAL', 'replay() after write()');
      replayed.push(sealed);
      const out: Buffer[] = [];
      while (replayed.length >= SEALED_SEGMENT_BYTES) {
        const segment = replayed.take(SEALED_SEGMENT_BYTES);
        const plaintext = openCrypt4ghSegment([dataKey], segment, segmentCount);
        dataDigest.update(segment);
        plaintextDigest.update(plaintext);
        plaintextSize += plaintext.length;
        segmentCount += 1;
        out.push(plaintext);
      }
      return out;
    },
    write(chunk) {
      if (totals) throw new GatewayError('ERR_INTERNAL', 'write() after the body ended');
      if (!writing && replayed.length > 0) throw new GatewayError('ERR_INTERNAL', 'the replayed bytes end inside a segment');
      writing = true;
      const out: Buffer[] = [];
      plaintextDigest.update(chunk);
      plaintextSize += chunk.length;
      // Unlike our own format, Crypt4GH has no final-segment flag: a full segment is sealed at once.
      for (let offset = 0; offset < chunk.length; ) {
        const take = Math.min(SEGMENT_PLAINTEXT_BYTES - heldBytes, chunk.length - offset);
        held.push(chunk.subarray(offset, offset + take));
        heldBytes += take;
        offset += take;
        if (heldBytes === SEGMENT_PLAINTEXT_BYTES) sealHeld(out);
      }
      return out;
    },
    end() {
      if (totals) throw new GatewayError('ERR_INTERNAL', 'end() called twice');
      const out: Buffer[] = [];
      if (heldBytes > 0) sealHeld(out);
      dataKey.fill(0);
      totals = { plaintextSize, sha256: plaintextDigest.digest('hex'), segmentCount, dataSha256: dataDigest.digest('hex') };
      return out;
    },
    totals() {
      if (!totals) throw new GatewayError('ERR_INTERNAL', 'totals() before the body ended');
      return totals;
    },
  };
}
