// Reading a Crypt4GH v1 file as a stream: the header is gathered and opened with the reader's key,
// then each sealed 64 KiB segment is opened as soon as it is whole and its plaintext passed on
// (through the edit list, when the header has one). Memory holds one segment, whatever the size.
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors.js';
import { crypt4ghHeaderLength, openCrypt4ghHeader, openCrypt4ghSegment, SEALED_SEGMENT_BYTES, SEGMENT_OVERHEAD_BYTES, type OpenedHeader } from './crypt4gh-format.js';
import { x25519PublicKeyOf, x25519SecretKeyObject } from './crypt4gh-keys.js';

/** Applies an edit list (skip, keep, skip, keep, …; after a last skip everything is kept) to consecutive plaintext. */
function createEditor(editList: readonly bigint[] | undefined): (plaintext: Buffer) => Buffer | undefined {
  if (!editList) return (plaintext) => plaintext;
  const lengths = editList.map(Number);
  let index = 0;
  let left = lengths[0] ?? 0;
  return (plaintext) => {
    const kept: Buffer[] = [];
    let at = 0;
    while (at < plaintext.length) {
      if (index >= lengths.length) {
        // Past the list: a list ending on a keep drops the rest; one ending on a skip keeps it.
        if (lengths.length % 2 === 1) kept.push(plaintext.subarray(at));
        break;
      }
      const take = Math.min(left, plaintext.length - at);
      if (index % 2 === 1) kept.push(plaintext.subarray(at, at + take));
      at += take;
      left -= take;
      if (left === 0) {
        index += 1;
        left = lengths[index] ?? 0;
      }
    }
    return kept.length === 0 ? undefined : kept.length === 1 ? kept[0] : Buffer.concat(kept);
  };
}

export interface Crypt4ghDecryptStream extends Transform {
  /** Plaintext bytes decrypted so far (before the edit list). */
  plaintextBytes(): number;
}

/**
 * Decrypts a Crypt4GH file with a raw X25519 secret key.
 * @throws (as a stream error) GatewayError ERR_CRYPT4GH_FORMAT, ERR_CRYPT4GH_NOT_RECIPIENT,
 *   ERR_CRYPT4GH_SEGMENT; ERR_CRYPT4GH_FORMAT also when the file ends inside its header or a
 *   segment shorter than the overhead.
 */
export function createCrypt4ghDecryptStream(secretKey: Uint8Array): Crypt4ghDecryptStream {
  const readerSecret = x25519SecretKeyObject(secretKey);
  const readerPublic = x25519PublicKeyOf(secretKey);
  let header: OpenedHeader | undefined;
  let edit: (plaintext: Buffer) => Buffer | undefined = (plaintext) => plaintext;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let segment = 0;
  let plaintextBytes = 0;

  const take = (length: number): Buffer => {
    const joined = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = joined.length > length ? [joined.subarray(length)] : [];
    pendingBytes -= length;
    return joined.subarray(0, length);
  };

  const openSegment = (stream: Transform, sealed: Buffer): void => {
    const plaintext = openCrypt4ghSegment(header?.dataKeys ?? [], sealed, segment);
    segment += 1;
    plaintextBytes += plaintext.length;
    const kept = edit(plaintext);
    if (kept) stream.push(kept);
  };

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (!header) {
          const length = crypt4ghHeaderLength(pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes));
          if (length === undefined) return callback();
          header = openCrypt4ghHeader(take(length), readerSecret, readerPublic);
          edit = createEditor(header.editList);
        }
        // The last segment may be a whole one too: it is opened at the end, so keep one back.
        while (pendingBytes > SEALED_SEGMENT_BYTES) openSegment(this, take(SEALED_SEGMENT_BYTES));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (!header) throw new GatewayError('ERR_CRYPT4GH_FORMAT', 'the file ends inside its Crypt4GH header');
        if (pendingBytes > 0) {
          if (pendingBytes < SEGMENT_OVERHEAD_BYTES) throw new GatewayError('ERR_CRYPT4GH_FORMAT', `the file ends with ${pendingBytes} bytes, too few for a segment`);
          openSegment(this, take(pendingBytes));
        }
        for (const key of header.dataKeys) key.fill(0);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  return Object.assign(stream, { plaintextBytes: () => plaintextBytes });
}
