// Encrypting a dataset transfer into an envelope, in two phases: `body` turns plaintext into sealed
// segments as it streams (hashing the plaintext on the way), then `finish` wraps the data key for
// the holders, signs the header (which needs the final size and digest) and frames the prefix.
import { randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import { GatewayError } from '../errors.js';
import { frameEnvelopePrefix } from './envelope-framing.js';
import {
  DEFAULT_SEGMENT_SIZE,
  ENVELOPE_ALGORITHMS,
  ENVELOPE_JWS_TYPE,
  ENVELOPE_VERSION,
  hashBinding,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  type EnvelopeBinding,
  type EnvelopeHeader,
  type WrappedKey,
} from './envelope-header.js';
import type { GatewaySigner } from './gateway-signer.js';
import { createBodySealer, type BodySealingParams, type BodyTotals } from './seal-body.js';
import { DATA_KEY_BYTES, NONCE_PREFIX_BYTES, SALT_BYTES, TAG_BYTES } from './stream-aead.js';
import { wrapDataKey, type KeyHolder } from './wrap-data-key.js';

export interface EnvelopeEncryptorOptions {
  readonly transferId: string;
  readonly sender: string;
  readonly recipient: string;
  readonly policyRevision: string;
  readonly decisionId: string;
  /** Plaintext bytes per segment; 64 KiB unless a test needs many small segments. */
  readonly segmentSize?: number;
  /**
   * The key material of an envelope begun earlier (a resumed upload, transfer/resume-ticket.ts)
   * instead of fresh random bytes; the encryptor zeroes `dataKey` as it does its own.
   */
  readonly resumed?: { readonly dataKey: Buffer; readonly salt: Buffer; readonly noncePrefix: Buffer };
}

export interface FinishOptions {
  /** Exactly one `recipient` (the binding's recipient) and any escrow holders the decision's obligations name. */
  readonly holders: readonly KeyHolder[];
  readonly signer: GatewaySigner;
  /**
   * The gateway's own processing key: the data key is also wrapped to it, outside the signed
   * header, so a queue worker can inspect the stored content; the caller deletes that wrap when done.
   */
  readonly processingHolder?: KeyHolder;
}

export interface FinishedEnvelope {
  readonly headerJws: string;
  readonly header: EnvelopeHeader;
  /** magic ‖ version ‖ header length ‖ header JWS: put it in front of the body to get the envelope. */
  readonly prefix: Buffer;
  /** The data key wrapped to `processingHolder`, when one was given; not part of the envelope. */
  readonly processingWrap?: WrappedKey;
}

/** Who the data key is wrapped for: `FinishOptions` without the signer. */
export type WrapHolders = Pick<FinishOptions, 'holders' | 'processingHolder'>;

export interface EnvelopeEncryptor {
  readonly binding: EnvelopeBinding;
  /**
   * Starts wrapping the data key for these holders now, while the body streams (the wrap does not
   * depend on the body): `finish` with the same holders (the same objects) then only signs.
   */
  wrapEarly(holders: WrapHolders): void;
  /** Zeroes the data key when `finish` will not be called (the upload failed). */
  discard(): void;
  /** Plaintext in, sealed segments out (in pieces); holds at most one segment of plaintext. */
  readonly body: Transform;
  /** The key material the body is sealed with (memory only; zeroed by finish and discard). */
  readonly sealing: BodySealingParams;
  /** Resuming (`resumed` material): the stored sealed segments, before `body` takes any plaintext; their plaintext out (seal-body.ts `replay`). */
  replay(sealed: Uint8Array): Buffer[];
  /**
   * Wraps the data key for the holders, signs the header and zeroes the data key. Call once, after
   * `body` has ended.
   * @throws GatewayError `ERR_INTERNAL` when called early or twice; `ERR_ENVELOPE_KEY_INVALID` for
   *   a holders list without the recipient or with an unusable key.
   */
  finish(options: FinishOptions): Promise<FinishedEnvelope>;
}

function checkHolders(holders: readonly KeyHolder[], recipient: string): void {
  const recipients = holders.filter((holder) => holder.role === 'recipient');
  if (recipients.length !== 1 || recipients[0]?.institution !== recipient) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `the holders must include exactly one recipient, ${recipient}`);
  }
  const institutions = holders.map((holder) => holder.institution);
  if (new Set(institutions).size !== institutions.length) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `an institution appears twice among the holders: ${institutions.join(', ')}`);
  }
}

interface EnvelopeKeys {
  readonly binding: EnvelopeBinding;
  readonly bindingHash: Buffer;
  readonly dataKey: Buffer;
  readonly sealing: BodySealingParams;
}

/** A fresh random data key, salt and nonce prefix, and the binding they belong to. */
function newEnvelopeKeys(options: EnvelopeEncryptorOptions): EnvelopeKeys {
  const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  if (!Number.isSafeInteger(segmentSize) || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', `segment size ${segmentSize} is outside ${MIN_SEGMENT_SIZE}…${MAX_SEGMENT_SIZE}`);
  }
  const { resumed } = options;
  if (resumed && (resumed.dataKey.length !== DATA_KEY_BYTES || resumed.salt.length !== SALT_BYTES || resumed.noncePrefix.length !== NONCE_PREFIX_BYTES)) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', 'the resumed key material has the wrong sizes');
  }
  const salt = resumed?.salt ?? randomBytes(SALT_BYTES);
  const noncePrefix = resumed?.noncePrefix ?? randomBytes(NONCE_PREFIX_BYTES);
  const binding: EnvelopeBinding = Object.freeze({
    version: ENVELOPE_VERSION,
    transferId: options.transferId,
    algorithms: ENVELOPE_ALGORITHMS,
    segmentSize,
    salt: salt.toString('base64url'),
    noncePrefix: noncePrefix.toString('base64url'),
    sender: options.sender,
    recipient: options.recipient,
    policyRevision: options.policyRevision,
    decisionId: options.decisionId,
  });
  const bindingHash = hashBinding(binding);
  const dataKey = resumed?.dataKey ?? randomBytes(DATA_KEY_BYTES);
  return { binding, bindingHash, dataKey, sealing: { dataKey, salt, noncePrefix, bindingHash, segmentSize } };
}

interface Wrapping {
  readonly holders: WrapHolders;
  readonly done: Promise<{ wrappedKeys: WrappedKey[]; processingWrap?: WrappedKey }>;
}

/** Wraps (a copy of) the data key for the holders; the wrap does not depend on the body. */
function startWrapping(keys: EnvelopeKeys, holders: WrapHolders): Wrapping {
  const dataKey = Buffer.from(keys.dataKey);
  const wrap = async (): Promise<{ wrappedKeys: WrappedKey[]; processingWrap?: WrappedKey }> => {
    try {
      checkHolders(holders.holders, keys.binding.recipient);
      const wrappedKeys = await wrapDataKey(dataKey, holders.holders, keys.bindingHash);
      const processingWrap = holders.processingHolder ? (await wrapDataKey(dataKey, [holders.processingHolder], keys.bindingHash))[0] : undefined;
      return { wrappedKeys, ...(processingWrap ? { processingWrap } : {}) };
    } finally {
      dataKey.fill(0);
    }
  };
  const done = wrap();
  done.catch(() => undefined); // reported by finish(); an upload that fails first never asks
  return { holders, done };
}

/** Signs the header over the body's totals with the holders' wrapped keys; zeroes the data key. */
async function sealHeader(keys: EnvelopeKeys, body: BodyTotals, options: FinishOptions, early: Wrapping | undefined): Promise<FinishedEnvelope> {
  try {
    const sameHolders = early && early.holders.holders === options.holders && early.holders.processingHolder === options.processingHolder;
    const { wrappedKeys, processingWrap } = await (sameHolders ? early : startWrapping(keys, options)).done;
    const header: EnvelopeHeader = {
      binding: keys.binding,
      bindingSha256: keys.bindingHash.toString('hex'),
      wrappedKeys,
      plaintext: { size: body.plaintextSize, sha256: body.sha256 },
      segmentCount: body.segmentCount,
    };
    const headerJws = await options.signer.sign(header, { typ: ENVELOPE_JWS_TYPE });
    return { headerJws, header, prefix: frameEnvelopePrefix(headerJws), ...(processingWrap ? { processingWrap } : {}) };
  } finally {
    keys.dataKey.fill(0);
  }
}

/**
 * A new envelope with a fresh random data key, salt and nonce prefix.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` for a segment size outside 1 KiB…16 MiB. The body
 *   stream fails with `ERR_ENVELOPE_SIZE` past 2³²−1 segments.
 */
export function createEnvelopeEncryptor(options: EnvelopeEncryptorOptions): EnvelopeEncryptor {
  const keys = newEnvelopeKeys(options);
  const sealer = createBodySealer(keys.sealing);
  let state: 'streaming' | 'ended' | 'finished' | 'failed' = 'streaming';
  let early: Wrapping | undefined;
  const pushAll = (stream: Transform, pieces: readonly Buffer[]): void => {
    for (const piece of pieces) stream.push(piece);
  };

  // The sealer holds the plaintext of the segment not sealed yet as views into the written chunks,
  // not copies (as PassThrough does): a writer that reused a buffer after writing it would get
  // ERR_ENVELOPE_DIGEST at decryption, the digest having been taken at write time.
  const body = new Transform({
    writableHighWaterMark: keys.sealing.segmentSize,
    readableHighWaterMark: keys.sealing.segmentSize + TAG_BYTES,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        pushAll(this, sealer.write(chunk));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        pushAll(this, sealer.end());
        state = 'ended';
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    destroy(error, callback) {
      if (state === 'streaming') {
        state = 'failed';
        keys.dataKey.fill(0);
      }
      callback(error);
    },
  });

  return {
    binding: keys.binding,
    body,
    sealing: keys.sealing,
    replay: (sealed) => sealer.replay(sealed),
    wrapEarly(holders) {
      early ??= startWrapping(keys, holders);
    },
    discard() {
      if (state === 'finished') return;
      state = 'failed';
      keys.dataKey.fill(0);
    },
    async finish(finishOptions) {
      if (state !== 'ended') {
        throw new GatewayError('ERR_INTERNAL', state === 'streaming' ? 'finish() before the envelope body ended' : `finish() on an envelope that is ${state}`);
      }
      state = 'finished';
      return sealHeader(keys, sealer.totals(), finishOptions, early);
    },
  };
}

/** An envelope whose body is sealed elsewhere (a sealing thread) with `sealing`. */
export interface DetachedEnvelopeEncryptor {
  readonly binding: EnvelopeBinding;
  /** As `EnvelopeEncryptor.wrapEarly`. */
  wrapEarly(holders: WrapHolders): void;
  /** For the sealer (`createBodySealer`): a copy of the key material, memory only. */
  readonly sealing: BodySealingParams;
  /** As `EnvelopeEncryptor.finish`, with the totals the sealer reported. Call once. */
  finish(options: FinishOptions & { readonly body: BodyTotals }): Promise<FinishedEnvelope>;
  /** Zeroes the data key when the body failed and `finish` will not be called. */
  discard(): void;
}

export function createDetachedEnvelopeEncryptor(options: EnvelopeEncryptorOptions): DetachedEnvelopeEncryptor {
  const keys = newEnvelopeKeys(options);
  const sealingKey = Buffer.from(keys.dataKey);
  let done = false;
  let early: Wrapping | undefined;
  return {
    binding: keys.binding,
    sealing: { ...keys.sealing, dataKey: sealingKey },
    wrapEarly(holders) {
      early ??= startWrapping(keys, holders);
    },
    async finish(finishOptions) {
      if (done) throw new GatewayError('ERR_INTERNAL', 'finish() on an envelope that is finished or discarded');
      done = true;
      sealingKey.fill(0);
      return sealHeader(keys, finishOptions.body, finishOptions, early);
    },
    discard() {
      done = true;
      sealingKey.fill(0);
      keys.dataKey.fill(0);
    },
  };
}
