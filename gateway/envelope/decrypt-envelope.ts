// Decrypting an envelope as a stream: envelope bytes in, plaintext out. The header is verified and
// the data key unwrapped before any segment is opened; every segment is authenticated before its
// plaintext is released; truncation, trailing data, size and digest are judged at the end, so a
// consumer must treat its output as void unless the stream finishes without error.
import { createHash, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { GatewayError } from '../errors.js';
import { createByteQueue } from './byte-queue.js';
import { parseEnvelopePrefix, PREFIX_FIXED_BYTES } from './envelope-framing.js';
import type { EnvelopeHeader, WrappedKey } from './envelope-header.js';
import { verifyEnvelopeHeader } from './read-envelope-header.js';
import { createSegmentCipher, TAG_BYTES, type SegmentCipher } from './stream-aead.js';
import { readHolderPrivateKey, unwrapDataKey } from './wrap-data-key.js';

export interface EnvelopeDecryptorOptions {
  /** The holder's EC P-256 private key: PKCS#8 PEM or a KeyObject. */
  readonly privateKey: string | KeyObject;
  /** The gateway's public JWKS (current and previous signing keys). */
  readonly jwks: JSONWebKeySet;
  /** Called once the header has verified and the data key is unwrapped, before the first plaintext byte. */
  readonly onHeader?: (opened: OpenedEnvelope) => void;
  /** Wrapped keys kept outside the header (the gateway's processing wrap), tried as well. */
  readonly extraWrappedKeys?: readonly WrappedKey[];
}

/** What a verified header says, and which of its wrapped keys the private key opened. */
export interface OpenedEnvelope {
  readonly header: EnvelopeHeader;
  /** The gateway key that signed the header. */
  readonly signingKid: string;
  readonly holder: WrappedKey;
}

interface BodyState {
  readonly header: EnvelopeHeader;
  readonly cipher: SegmentCipher;
  next: number;
}

/**
 * A Transform from envelope bytes to plaintext. Stream errors carry a GatewayError:
 * `ERR_ENVELOPE_FORMAT` (framing, header content), `ERR_ENVELOPE_SIGNATURE` (header does not verify),
 * `ERR_ENVELOPE_NOT_RECIPIENT` (no wrapped key opens), `ERR_ENVELOPE_SEGMENT` (details `{ segment }`),
 * `ERR_ENVELOPE_TRUNCATED`, `ERR_ENVELOPE_TRAILING_DATA`, `ERR_ENVELOPE_SIZE`, `ERR_ENVELOPE_DIGEST`.
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` at once when the private key is not EC P-256.
 */
export function createEnvelopeDecryptor(options: EnvelopeDecryptorOptions): Transform {
  const privateKey = readHolderPrivateKey(options.privateKey);
  const queue = createByteQueue();
  const digest = createHash('sha256');
  let plaintextSize = 0;
  let headerLength: number | undefined;
  let body: BodyState | undefined;

  async function openHeader(headerJws: string): Promise<BodyState> {
    const { header, bindingHash, kid } = await verifyEnvelopeHeader(headerJws, options.jwks);
    const { dataKey, holder } = await unwrapDataKey([...header.wrappedKeys, ...(options.extraWrappedKeys ?? [])], privateKey, bindingHash);
    try {
      const { salt, noncePrefix } = header.binding;
      const cipher = createSegmentCipher({ dataKey, salt: Buffer.from(salt, 'base64url'), noncePrefix: Buffer.from(noncePrefix, 'base64url'), bindingHash });
      options.onHeader?.({ header, signingKid: kid, holder });
      return { header, cipher, next: 0 };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Sealed length of segment `index`: full segments, then the remainder (16 bytes for an empty payload). */
  function sealedLength({ header }: BodyState, index: number): number {
    const { segmentSize } = header.binding;
    const isLast = index === header.segmentCount - 1;
    return (isLast ? header.plaintext.size - index * segmentSize : segmentSize) + TAG_BYTES;
  }

  /** Opens every complete segment queued; synchronous, as each segment is. */
  function drainSegments(stream: Transform, state: BodyState): void {
    const { header } = state;
    while (state.next < header.segmentCount && queue.length >= sealedLength(state, state.next)) {
      const index = state.next;
      const plaintext = state.cipher.open(index, index === header.segmentCount - 1, queue.takePieces(sealedLength(state, index)));
      state.next += 1;
      for (const piece of plaintext) {
        digest.update(piece);
        plaintextSize += piece.length;
        if (piece.length > 0) stream.push(piece);
      }
    }
    if (state.next === header.segmentCount && queue.length > 0) {
      throw new GatewayError('ERR_ENVELOPE_TRAILING_DATA', `data follows the final segment (${header.segmentCount - 1}); the envelope was altered`);
    }
  }

  /** Consumes what is queued. Returns a promise only while the header is being verified and unwrapped. */
  function drain(stream: Transform): Promise<void> | void {
    if (body) return drainSegments(stream, body);
    if (headerLength === undefined && queue.length >= PREFIX_FIXED_BYTES) {
      headerLength = parseEnvelopePrefix(queue.take(PREFIX_FIXED_BYTES)).headerLength;
    }
    if (headerLength !== undefined && queue.length >= headerLength) {
      return openHeader(queue.take(headerLength).toString('latin1')).then((opened) => {
        body = opened;
        drainSegments(stream, opened);
      });
    }
  }

  function checkEnd(): void {
    if (!body) throw new GatewayError('ERR_ENVELOPE_TRUNCATED', 'the envelope ends inside its header');
    const { header, next } = body;
    if (next < header.segmentCount) {
      const partial = queue.length > 0 ? ` and ${queue.length} bytes of segment ${next}` : '';
      throw new GatewayError('ERR_ENVELOPE_TRUNCATED', `the envelope ends after ${next} of ${header.segmentCount} segments${partial}: the final segment is missing`, {
        segments: next,
        expectedSegments: header.segmentCount,
      });
    }
    if (plaintextSize !== header.plaintext.size) {
      throw new GatewayError('ERR_ENVELOPE_SIZE', `decrypted ${plaintextSize} bytes, the header says ${header.plaintext.size}`);
    }
    const sha256 = digest.digest('hex');
    if (sha256 !== header.plaintext.sha256) {
      throw new GatewayError('ERR_ENVELOPE_DIGEST', `the plaintext SHA-256 is ${sha256}, the header says ${header.plaintext.sha256}`);
    }
  }

  /** Runs `work` and reports to the stream callback, without a promise per chunk once the header is open. */
  const settle = (work: () => Promise<void> | void, callback: TransformCallback): void => {
    try {
      const pending = work();
      if (pending) pending.then(() => callback(), (error: unknown) => callback(error as Error));
      else callback();
    } catch (error) {
      callback(error as Error);
    }
  };

  return new Transform({
    readableHighWaterMark: 64 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      queue.push(chunk);
      settle(() => drain(this), callback);
    },
    flush(callback) {
      settle(() => {
        const pending = drain(this);
        return pending ? pending.then(checkEnd) : checkEnd();
      }, callback);
    },
  });
}
