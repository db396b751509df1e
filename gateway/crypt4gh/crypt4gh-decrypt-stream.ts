// Reading a Crypt4GH v1 file as a stream: the header is gathered and opened with the reader's key,
// then each sealed 64 KiB segment is opened as soon as it is whole and its plaintext passed on
// (through the edit list, when the header has one). Memory holds one segment, whatever the size.
import { createHash } from 'node:crypto';
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

export interface Crypt4ghReader {
  /** Takes the next bytes of the file; returns the plaintext (after the edit list) of the segments they complete. */
  write(chunk: Buffer): Buffer[];
  /** Opens the last segment; throws when the file ends inside its header or a segment. */
  end(): Buffer[];
  /** Plaintext bytes decrypted so far (before the edit list). */
  plaintextBytes(): number;
  segmentCount(): number;
  /** With `hashData`, after `end`: SHA-256 (hex) of the data section as read. */
  dataSha256(): string | undefined;
}

/**
 * Reads a Crypt4GH file with a raw X25519 secret key, synchronously: bytes in, plaintext out.
 * Memory holds one segment, whatever the size.
 * @throws GatewayError ERR_CRYPT4GH_FORMAT (also for a file ending inside its header or with fewer
 *   bytes than a segment's overhead), ERR_CRYPT4GH_NOT_RECIPIENT, ERR_CRYPT4GH_SEGMENT.
 */
export function createCrypt4ghReader(secretKey: Uint8Array, options: { readonly hashData?: boolean } = {}): Crypt4ghReader {
  const readerSecret = x25519SecretKeyObject(secretKey);
  const readerPublic = x25519PublicKeyOf(secretKey);
  const dataDigest = options.hashData ? createHash('sha256') : undefined;
  let dataSha256: string | undefined;
  let header: OpenedHeader | undefined;
  let edit: (plaintext: Buffer) => Buffer | undefined = (plaintext) => plaintext;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let segment = 0;
  let plaintextBytes = 0;

  const joined = (): Buffer => (pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes));
  const take = (length: number): Buffer => {
    const all = joined();
    pending = all.length > length ? [all.subarray(length)] : [];
    pendingBytes -= length;
    return all.subarray(0, length);
  };
  const openSegment = (sealed: Buffer, out: Buffer[]): void => {
    dataDigest?.update(sealed);
    const plaintext = openCrypt4ghSegment(header?.dataKeys ?? [], sealed, segment);
    segment += 1;
    plaintextBytes += plaintext.length;
    const kept = edit(plaintext);
    if (kept) out.push(kept);
  };

  return {
    write(chunk) {
      const out: Buffer[] = [];
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (!header) {
        const length = crypt4ghHeaderLength(joined());
        if (length === undefined) return out;
        header = openCrypt4ghHeader(take(length), readerSecret, readerPublic);
        edit = createEditor(header.editList);
      }
      // The last segment may be a whole one too: it is opened at the end, so keep one back.
      while (pendingBytes > SEALED_SEGMENT_BYTES) openSegment(take(SEALED_SEGMENT_BYTES), out);
      return out;
    },
    end() {
      const out: Buffer[] = [];
      if (!header) throw new GatewayError('ERR_CRYPT4GH_FORMAT', 'the file ends inside its Crypt4GH header');
      if (pendingBytes > 0) {
        if (pendingBytes < SEGMENT_OVERHEAD_BYTES) throw new GatewayError('ERR_CRYPT4GH_FORMAT', `the file ends with ${pendingBytes} bytes, too few for a segment`);
        openSegment(take(pendingBytes), out);
      }
      for (const key of header.dataKeys) key.fill(0);
      dataSha256 = dataDigest?.digest('hex');
      return out;
    },
    plaintextBytes: () => plaintextBytes,
    segmentCount: () => segment,
    dataSha256: () => dataSha256,
  };
}

/** A Crypt4GH file in, its plaintext out (see createCrypt4ghReader). */
export function createCrypt4ghDecryptStream(secretKey: Uint8Array): Transform {
  const reader = createCrypt4ghReader(secretKey);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        for (const piece of reader.write(chunk)) this.push(piece);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        for (const piece of reader.end()) this.push(piece);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
