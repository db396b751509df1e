// Reading a transfer stored as Crypt4GH in its envelope form — HETAOENV prefix with the gateway's
// signed binding, then the Crypt4GH file — and checking what Crypt4GH alone cannot: the binding's
// signature (against the gateway's JWKS), then at the end the segment count, the SHA-256 of the data
// section, and the plaintext's size and SHA-256. A file with segments dropped, repeated, reordered or
// cut at a boundary decrypts segment by segment but fails here; as with our envelope, output already
// written must then be discarded (the error says so).
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { GatewayError } from '../errors.js';
import { createByteQueue } from '../envelope/byte-queue.js';
import { parseEnvelopePrefix, PREFIX_FIXED_BYTES } from '../envelope/envelope-framing.js';
import { verifyCrypt4ghBinding, type Crypt4ghBinding } from './crypt4gh-binding.js';
import { createCrypt4ghReader, type Crypt4ghReader } from './crypt4gh-decrypt-stream.js';

export interface Crypt4ghEnvelopeDecryptor extends Transform {
  /** The verified binding, once the prefix has been read. */
  binding(): Crypt4ghBinding | undefined;
  /** The gateway key that signed it. */
  signingKid(): string | undefined;
}

/**
 * @throws (as a stream error) GatewayError ERR_ENVELOPE_FORMAT / ERR_ENVELOPE_SIGNATURE /
 *   ERR_ENVELOPE_TRUNCATED for the prefix; the Crypt4GH reader's errors; ERR_ENVELOPE_SIZE or
 *   ERR_ENVELOPE_DIGEST when the body is not the one the binding describes.
 */
/** The caller may zero `secretKey` once this returns. */
export function createCrypt4ghEnvelopeDecryptor(options: { readonly secretKey: Uint8Array; readonly jwks: JSONWebKeySet }): Crypt4ghEnvelopeDecryptor {
  const queue = createByteQueue();
  let headerLength: number | undefined;
  let binding: Crypt4ghBinding | undefined;
  let signingKid: string | undefined;
  // Made now: it keeps the key as a KeyObject, so the caller may zero its copy once this returns.
  const openedReader: Crypt4ghReader = createCrypt4ghReader(options.secretKey, { hashData: true });
  let reader: Crypt4ghReader | undefined;
  const plaintextDigest = createHash('sha256');
  let plaintextSize = 0;

  const emit = (stream: Transform, pieces: readonly Buffer[]): void => {
    for (const piece of pieces) {
      plaintextDigest.update(piece);
      plaintextSize += piece.length;
      stream.push(piece);
    }
  };

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (reader) {
        try {
          emit(this, reader.write(chunk));
          return callback();
        } catch (error) {
          return callback(error as Error);
        }
      }
      queue.push(chunk);
      try {
        if (headerLength === undefined && queue.length >= PREFIX_FIXED_BYTES) headerLength = parseEnvelopePrefix(queue.take(PREFIX_FIXED_BYTES)).headerLength;
        if (headerLength === undefined || queue.length < headerLength) return callback();
      } catch (error) {
        return callback(error as Error);
      }
      const jws = queue.take(headerLength).toString('latin1');
      verifyCrypt4ghBinding(jws, options.jwks).then(
        (verified) => {
          binding = verified.binding;
          signingKid = verified.kid;
          reader = openedReader;
          try {
            if (queue.length > 0) emit(this, reader.write(queue.take(queue.length)));
            callback();
          } catch (error) {
            callback(error as Error);
          }
        },
        (error: unknown) => callback(error as Error),
      );
    },
    flush(callback: TransformCallback) {
      try {
        if (!reader || !binding) throw new GatewayError('ERR_ENVELOPE_TRUNCATED', 'the envelope ends inside its header');
        emit(this, reader.end());
        if (reader.segmentCount() !== binding.segmentCount || reader.dataSha256() !== binding.dataSha256) {
          throw new GatewayError('ERR_ENVELOPE_DIGEST', `the Crypt4GH data (${reader.segmentCount()} segments) is not the one the gateway signed (${binding.segmentCount}): segments were dropped, repeated, reordered or replaced; discard the output`);
        }
        if (plaintextSize !== binding.plaintext.size) throw new GatewayError('ERR_ENVELOPE_SIZE', `the plaintext has ${plaintextSize} bytes, the binding says ${binding.plaintext.size}; discard the output`);
        if (plaintextDigest.digest('hex') !== binding.plaintext.sha256) throw new GatewayError('ERR_ENVELOPE_DIGEST', "the plaintext's SHA-256 differs from the binding's; discard the output");
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  return Object.assign(stream, { binding: () => binding, signingKid: () => signingKid });
}
