// Where an upload's bytes are inspected and sealed: on the event loop (small uploads, for which
// handing bytes to a thread costs more than it frees) or in a sealing thread (large ones). Either way
// the sealer is a few stages of the one upload pass, plaintext in and sealed body out, written to the
// store's pending object by the same pipeline: the store never knows where the sealing ran.
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { Transform, type Duplex } from 'node:stream';
import { signCrypt4ghBinding, type Crypt4ghHolder } from '../crypt4gh/crypt4gh-binding.js';
import { SEALED_SEGMENT_BYTES, SEGMENT_PLAINTEXT_BYTES, writeCrypt4ghHeader } from '../crypt4gh/crypt4gh-format.js';
import { createCrypt4ghBodySealer, type Crypt4ghBodyTotals } from '../crypt4gh/seal-crypt4gh-body.js';
import { createDetachedEnvelopeEncryptor, createEnvelopeEncryptor, type EnvelopeEncryptorOptions, type FinishOptions, type WrapHolders } from '../envelope/encrypt-envelope.js';
import type { WrappedKey } from '../envelope/envelope-header.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, InspectorOptions } from '../inspect/inspection-report.js';
import { sealedSegmentSizeOf, segmentSizeOf, type BodySealing } from './body-sealing.js';
import type { SealingMaterial } from './resume-ticket.js';
import type { SealingThreads } from './sealing-threads.js';
import { createInspectionTap } from './upload-pass.js';

/** What an upload's sealing produced besides the body. */
export interface SealedContent {
  /** Stored under the transfer's header key: the framed signed envelope header, or the signed Crypt4GH binding. */
  readonly prefix: Buffer;
  readonly plaintext: { readonly size: number; readonly sha256: string };
  /** The data key wrapped to the gateway's processing key (envelope only), kept apart from the envelope. */
  readonly processingWrap?: WrappedKey;
  /** Crypt4GH only: the file's header packets, stored as an object of their own. */
  readonly crypt4ghHeader?: Buffer;
}

export interface UploadSealer {
  /** Stages of the upload pass: plaintext in, sealed body out. */
  readonly stages: readonly Duplex[];
  /** Once the pass is done: wraps the data key, signs the header, reports what the inspector saw. */
  finish(options: FinishOptions): Promise<{ sealed: SealedContent; report: InspectionReport }>;
  /** Zeroes the data key when the pass failed and `finish` will not be called. */
  discard(): void;
  /** A copy of the key material, to seal into a resume ticket (resume-ticket.ts); zero it after. Before `finish`. */
  material(): SealingMaterial;
  /**
   * Resuming: the stored sealed bytes of the body's first segments, before any plaintext goes in;
   * opened, hashed and inspected as if they had just been sealed. One call at a time.
   */
  replay(sealed: Buffer): Promise<void>;
  /** The sender paused: let the plaintext that went in reach the store (a sealing thread's partial batch). */
  flush(): void;
  /** Plaintext bytes per segment and stored bytes per segment. */
  readonly segment: { readonly plaintextBytes: number; readonly sealedBytes: number };
  /** Whether the sealer holds back a full segment until a later byte exists (our envelope: its final flag). */
  readonly holdsLastSegment: boolean;
}

export interface UploadSealerInput {
  readonly binding: EnvelopeEncryptorOptions;
  /** The data key is wrapped for them while the body streams (it does not depend on it). */
  readonly holders: WrapHolders;
  readonly inspector: InspectorOptions;
  /** Seal in a thread; absent: on the event loop. */
  readonly threads?: SealingThreads;
  /** Store the body as Crypt4GH for these holders (their X25519 keys) instead of as our envelope. */
  readonly crypt4gh?: readonly Crypt4ghHolder[];
  /** The key material of the upload this one resumes (its format must match); absent: fresh keys. */
  readonly resumed?: SealingMaterial;
}

const envelopeContent = ({ prefix, header, processingWrap }: { prefix: Buffer; header: { plaintext: SealedContent['plaintext'] }; processingWrap?: WrappedKey }): SealedContent => ({
  prefix,
  plaintext: header.plaintext,
  ...(processingWrap ? { processingWrap } : {}),
});

export function createUploadSealer(input: UploadSealerInput): UploadSealer {
  if (input.crypt4gh) return createCrypt4ghUploadSealer(input, input.crypt4gh);
  if (input.resumed && input.resumed.format !== 'hetao-envelope') throw new GatewayError('ERR_INTERNAL', 'an envelope upload cannot resume Crypt4GH material');
  const resumed = input.resumed;
  const binding = resumed ? { ...input.binding, segmentSize: resumed.segmentSize, resumed } : input.binding;
  if (input.threads) {
    const encryptor = createDetachedEnvelopeEncryptor(binding);
    encryptor.wrapEarly(input.holders);
    const sealing: BodySealing = { format: 'hetao-envelope', params: encryptor.sealing };
    const common = sealerCommon(sealing);
    const material = envelopeMaterial(encryptor.sealing);
    const thread = input.threads.seal({ sealing, inspector: input.inspector });
    return {
      ...common,
      stages: [thread.transform],
      async finish(options) {
        const { body, report } = await thread.result;
        return { sealed: envelopeContent(await encryptor.finish({ ...options, body })), report };
      },
      discard() {
        encryptor.discard();
        material.dataKey.fill(0);
        thread.transform.destroy();
      },
      material: () => copyMaterial(material),
      replay: (sealed) => thread.replay(sealed),
      flush: () => thread.flush(),
    };
  }
  const encryptor = createEnvelopeEncryptor(binding);
  encryptor.wrapEarly(input.holders);
  const sealing: BodySealing = { format: 'hetao-envelope', params: encryptor.sealing };
  const material = envelopeMaterial(encryptor.sealing);
  const inspector = createInspector(input.inspector);
  return {
    ...sealerCommon(sealing),
    stages: [createInspectionTap((chunk) => inspector.write(chunk)), encryptor.body],
    async finish(options) {
      material.dataKey.fill(0);
      return { sealed: envelopeContent(await encryptor.finish(options)), report: inspector.finish() };
    },
    discard() {
      material.dataKey.fill(0);
      encryptor.discard();
    },
    material: () => copyMaterial(material),
    async replay(sealed) {
      for (const plaintext of encryptor.replay(sealed)) inspector.write(plaintext);
    },
    flush: () => undefined,
  };
}

const sealerCommon = (sealing: BodySealing): Pick<UploadSealer, 'segment' | 'holdsLastSegment'> => ({
  segment: { plaintextBytes: segmentSizeOf(sealing), sealedBytes: sealedSegmentSizeOf(sealing) },
  holdsLastSegment: sealing.format === 'hetao-envelope',
});

const envelopeMaterial = (params: { dataKey: Uint8Array; salt: Uint8Array; noncePrefix: Uint8Array; segmentSize: number }): SealingMaterial => ({
  format: 'hetao-envelope',
  dataKey: Buffer.from(params.dataKey),
  salt: Buffer.from(params.salt),
  noncePrefix: Buffer.from(params.noncePrefix),
  segmentSize: params.segmentSize,
});

const copyMaterial = (material: SealingMaterial): SealingMaterial => ({ ...material, dataKey: Buffer.from(material.dataKey) });

/**
 * Crypt4GH: a fresh data key sealed into one header packet per holder at once (the packets do not
 * depend on the body), the body sealed in 64 KiB ChaCha20-Poly1305 segments here or in a sealing
 * thread, and at the end the gateway's binding signed over the totals. No processing wrap: every
 * Crypt4GH upload is fully inspected in its pass.
 */
function createCrypt4ghUploadSealer(input: UploadSealerInput, holders: readonly Crypt4ghHolder[]): UploadSealer {
  if (input.resumed && input.resumed.format !== 'crypt4gh') throw new GatewayError('ERR_INTERNAL', 'a Crypt4GH upload cannot resume envelope material');
  const dataKey = input.resumed ? Buffer.from(input.resumed.dataKey) : randomBytes(32);
  const material: SealingMaterial = { format: 'crypt4gh', dataKey: Buffer.from(dataKey) };
  const common = sealerCommon({ format: 'crypt4gh', dataKey });
  const crypt4ghHeader = writeCrypt4ghHeader(
    holders.map((holder) => Buffer.from(holder.publicKey, 'base64')),
    { dataKey },
  );
  const finishWith = async (totals: Crypt4ghBodyTotals, report: InspectionReport, options: FinishOptions): Promise<{ sealed: SealedContent; report: InspectionReport }> => {
    const { transferId, sender, recipient, policyRevision, decisionId } = input.binding;
    const prefix = await signCrypt4ghBinding(
      { version: 1, format: 'crypt4gh-v1', transferId, sender, recipient, policyRevision, decisionId, holders, plaintext: { size: totals.plaintextSize, sha256: totals.sha256 }, segmentCount: totals.segmentCount, dataSha256: totals.dataSha256 },
      options.signer,
    );
    return { sealed: { prefix, plaintext: { size: totals.plaintextSize, sha256: totals.sha256 }, crypt4ghHeader }, report };
  };
  if (input.threads) {
    const sealing = input.threads.seal({ sealing: { format: 'crypt4gh', dataKey }, inspector: input.inspector });
    dataKey.fill(0); // the thread has its own copy
    return {
      ...common,
      stages: [sealing.transform],
      async finish(options) {
        material.dataKey.fill(0);
        const { body, report } = await sealing.result;
        return finishWith(body as Crypt4ghBodyTotals, report, options);
      },
      discard() {
        material.dataKey.fill(0);
        sealing.transform.destroy();
      },
      material: () => copyMaterial(material),
      replay: (sealed) => sealing.replay(sealed),
      flush: () => sealing.flush(),
    };
  }
  const sealer = createCrypt4ghBodySealer(dataKey);
  const inspector = createInspector(input.inspector);
  let ended = false;
  const body = new Transform({
    writableHighWaterMark: SEGMENT_PLAINTEXT_BYTES,
    readableHighWaterMark: SEALED_SEGMENT_BYTES,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        for (const piece of sealer.write(chunk)) this.push(piece);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        for (const piece of sealer.end()) this.push(piece);
        ended = true;
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  return {
    ...common,
    stages: [createInspectionTap((chunk) => inspector.write(chunk)), body],
    finish(options) {
      material.dataKey.fill(0);
      return finishWith(sealer.totals(), inspector.finish(), options);
    },
    discard() {
      material.dataKey.fill(0);
      if (!ended) dataKey.fill(0);
    },
    material: () => copyMaterial(material),
    async replay(sealed) {
      for (const plaintext of sealer.replay(sealed)) inspector.write(plaintext);
    },
    flush: () => undefined,
  };
}
