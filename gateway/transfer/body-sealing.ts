// The two formats a transfer's body can be sealed in, as one thing a sealer (on the event loop or in
// a sealing thread) is handed: our envelope (AES-256-GCM STREAM segments) or Crypt4GH v1 (ChaCha20-
// Poly1305 segments). The key material in it lives in memory only.
import { createCrypt4ghBodySealer, type Crypt4ghBodyTotals } from '../crypt4gh/seal-crypt4gh-body.js';
import { SEALED_SEGMENT_BYTES, SEGMENT_PLAINTEXT_BYTES } from '../crypt4gh/crypt4gh-format.js';
import { createBodySealer, sealedSegmentSize, type BodySealingParams, type BodyTotals, type SegmentSealer } from '../envelope/seal-body.js';

export type BodySealing =
  | { readonly format: 'hetao-envelope'; readonly params: BodySealingParams }
  | { readonly format: 'crypt4gh'; readonly dataKey: Uint8Array };

/** What sealing reported: size, SHA-256 and segments of the plaintext (and, for Crypt4GH, the data section's SHA-256). */
export type SealedBodyTotals = BodyTotals | Crypt4ghBodyTotals;

export type FormatSealer = SegmentSealer<SealedBodyTotals>;

/** Plaintext bytes per segment: how much a sealer may hold back. */
export function segmentSizeOf(sealing: BodySealing): number {
  return sealing.format === 'crypt4gh' ? SEGMENT_PLAINTEXT_BYTES : sealing.params.segmentSize;
}

/** Stored bytes per segment: a resumed upload keeps a whole number of them. */
export function sealedSegmentSizeOf(sealing: BodySealing): number {
  return sealing.format === 'crypt4gh' ? SEALED_SEGMENT_BYTES : sealedSegmentSize(sealing.params.segmentSize);
}

/** A sealer for `sealing`; the caller may zero its copy of the data key once this returns. */
export function createFormatSealer(sealing: BodySealing): FormatSealer {
  return sealing.format === 'crypt4gh' ? createCrypt4ghBodySealer(Buffer.from(sealing.dataKey)) : createBodySealer(sealing.params);
}
