// Where an upload's bytes are inspected and sealed: on the event loop (small uploads, for which
// handing bytes to a thread costs more than it frees) or in a sealing thread (large ones). Either way
// the sealer is a few stages of the one upload pass, plaintext in and sealed body out, written to the
// store's pending object by the same pipeline: the store never knows where the sealing ran.
import type { Duplex } from 'node:stream';
import { createDetachedEnvelopeEncryptor, createEnvelopeEncryptor, type EnvelopeEncryptorOptions, type FinishOptions, type FinishedEnvelope, type WrapHolders } from '../envelope/encrypt-envelope.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, InspectorOptions } from '../inspect/inspection-report.js';
import type { SealingThreads } from './sealing-threads.js';
import { createInspectionTap } from './upload-pass.js';

export interface UploadSealer {
  /** Stages of the upload pass: plaintext in, sealed envelope body out. */
  readonly stages: readonly Duplex[];
  /** Once the pass is done: wraps the data key, signs the header, reports what the inspector saw. */
  finish(options: FinishOptions): Promise<{ sealed: FinishedEnvelope; report: InspectionReport }>;
  /** Zeroes the data key when the pass failed and `finish` will not be called. */
  discard(): void;
}

export function createUploadSealer(input: {
  readonly binding: EnvelopeEncryptorOptions;
  /** The data key is wrapped for them while the body streams (it does not depend on it). */
  readonly holders: WrapHolders;
  readonly inspector: InspectorOptions;
  /** Seal in a thread; absent: on the event loop. */
  readonly threads?: SealingThreads;
}): UploadSealer {
  if (input.threads) {
    const encryptor = createDetachedEnvelopeEncryptor(input.binding);
    encryptor.wrapEarly(input.holders);
    const sealing = input.threads.seal({ sealing: encryptor.sealing, inspector: input.inspector });
    return {
      stages: [sealing.transform],
      async finish(options) {
        const { body, report } = await sealing.result;
        return { sealed: await encryptor.finish({ ...options, body }), report };
      },
      discard() {
        encryptor.discard();
        sealing.transform.destroy();
      },
    };
  }
  const encryptor = createEnvelopeEncryptor(input.binding);
  encryptor.wrapEarly(input.holders);
  const inspector = createInspector(input.inspector);
  return {
    stages: [createInspectionTap((chunk) => inspector.write(chunk)), encryptor.body],
    async finish(options) {
      return { sealed: await encryptor.finish(options), report: inspector.finish() };
    },
    discard: () => encryptor.discard(),
  };
}
