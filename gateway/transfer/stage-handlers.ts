// The heavy stages as a worker runs them, in the gateway process or in a `hetao worker` process.
// A handler reads the record and the stored envelope, does the work, and writes a stage result for
// the gateway to apply (stage-results.ts); it never writes a record or the journal itself. Each is
// idempotent: a stage already done (result written, or the record moved on) is not done again.
import type { KeyObject } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JSONWebKeySet } from 'jose';
import { pushEnvelope, PermanentPushError, type PushTls } from '../delivery/push-envelope.js';
import { createEnvelopeDecryptor } from '../envelope/decrypt-envelope.js';
import type { WrappedKey } from '../envelope/envelope-header.js';
import { createInspector } from '../inspect/create-inspector.js';
import { declaredDataset } from '../inspect/inspection-report.js';
import { judgeInspection } from '../inspect/judge-inspection.js';
import { PermanentStageError, StageDeferredError, type Stage, type StageHandler } from '../queue/stage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { RecordReader } from './record-store.js';
import { NO_LANE, type BulkLane } from './bulk-lane.js';
import type { StageResult, StageResults } from './stage-results.js';
import { envelopeKeys, processingWrapKey } from './envelope-objects.js';
import type { TransferRecord } from './transfer-record.js';
import { leadingBytesOf } from './stored-content.js';

export interface StageHandlerDependencies {
  readonly objects: ObjectStore;
  /** The records as their store has them now (the gateway, maybe another process, writes them). */
  readonly records: RecordReader;
  readonly results: StageResults;
  /** The gateway's processing private key (EC P-256). */
  readonly processingKey: KeyObject;
  /** The gateway's public JWKS, to verify envelope headers before opening them. */
  readonly jwks: () => JSONWebKeySet;
  /** The recipient's registered push endpoint, if any. */
  readonly pushEndpointOf: (institution: string) => string | undefined;
  readonly pushTls: PushTls;
  /** Jobs for one recipient this process runs at once. */
  readonly perRecipient: number;
  readonly pushTimeoutMs?: number;
  /** In the gateway process, stage bytes take their turns in the bulk lane with large uploads. */
  readonly lane?: BulkLane;
  /** Forwards a transfer to the peer gateway serving its recipient (peering/forward-transfer.ts); absent, this process cannot. */
  readonly forward?: (record: TransferRecord, prefix: Buffer, envelope: () => AsyncIterable<Uint8Array>) => Promise<Omit<Extract<StageResult, { stage: 'forward' }>, 'durationMs'>>;
}

/** Re-check for a free slot after this long. */
const DEFER_MS = 250;

export function createStageHandlers(deps: StageHandlerDependencies): Record<Stage, StageHandler> {
  const running = new Map<string, number>();
  /** Runs `work` in one of the recipient's slots, or defers the job when all are taken. */
  const inRecipientSlot = async <T>(recipient: string, work: () => Promise<T>): Promise<T> => {
    const busy = running.get(recipient) ?? 0;
    if (busy >= deps.perRecipient) throw new StageDeferredError(DEFER_MS);
    running.set(recipient, busy + 1);
    try {
      return await work();
    } finally {
      const left = (running.get(recipient) ?? 1) - 1;
      if (left === 0) running.delete(recipient);
      else running.set(recipient, left);
    }
  };

  const load = async (transferId: string): Promise<TransferRecord> => {
    const record = await deps.records.get(transferId);
    if (!record) throw new PermanentStageError(`no record of transfer ${transferId}`);
    return record;
  };

  const lane = deps.lane ?? NO_LANE;
  /** The stored envelope, prefix then body, as one stream of bytes, each chunk in its turn. */
  const envelopeOf = (transferId: string, prefix: Buffer): AsyncIterable<Uint8Array> => {
    const [, bodyKey] = envelopeKeys(transferId);
    return (async function* () {
      yield prefix;
      for await (const chunk of deps.objects.read(bodyKey) as AsyncIterable<Uint8Array>) {
        await lane.turn();
        yield chunk;
      }
    })();
  };

  const prefixOf = async (record: TransferRecord): Promise<Buffer> => {
    const transferId = record.id;
    const prefix = await leadingBytesOf(deps.objects, record, 'hetao-envelope');
    if (!prefix) throw new PermanentStageError(`the envelope of ${transferId} is missing`);
    return prefix;
  };

  return {
    async inspect(transferId) {
      const record = await load(transferId);
      if (record.status !== 'queued' && record.status !== 'processing') return;
      if (await deps.results.read(transferId, 'inspect')) return;
      const inPass = record.inspection;
      if (inPass?.mode === 'full') {
        // The upload pass inspected every byte (upload-transfer.ts): its report is judged as it stands.
        const { outcome, reasons } = inPass as { outcome?: string; reasons?: readonly string[] };
        await deps.results.write(transferId, {
          stage: 'inspect',
          outcome: outcome === 'quarantine' ? 'quarantine' : 'pass',
          inspection: inPass,
          reasons: reasons ?? [],
          durationMs: 0,
        });
        return;
      }
      await inRecipientSlot(record.recipient, async () => {
        const started = performance.now();
        const wrapBytes = await deps.objects.get(processingWrapKey(transferId));
        if (!wrapBytes) throw new PermanentStageError(`the processing key wrap of ${transferId} is missing`);
        const wrap = JSON.parse(wrapBytes.toString('utf8')) as WrappedKey;
        const declared = declaredDataset(record.manifest.dataset);
        const inspector = createInspector({ declared, mode: 'full' });
        const decryptor = createEnvelopeDecryptor({ privateKey: deps.processingKey, jwks: deps.jwks(), extraWrappedKeys: [wrap] });
        // The plaintext goes to the inspector and nowhere else.
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            inspector.write(chunk);
            callback();
          },
        });
        await pipeline(envelopeOf(transferId, await prefixOf(record)), decryptor, sink);
        const report = inspector.finish();
        const verdict = judgeInspection(report, declared);
        await deps.results.write(transferId, {
          stage: 'inspect',
          outcome: verdict.outcome === 'quarantine' ? 'quarantine' : 'pass',
          inspection: { ...report, outcome: verdict.outcome, reasons: verdict.reasons },
          reasons: verdict.reasons,
          durationMs: performance.now() - started,
        });
      });
    },

    async deliver(transferId) {
      const record = await load(transferId);
      if (record.status !== 'available' && record.status !== 'received') return;
      if (record.delivery || (await deps.results.read(transferId, 'deliver'))) return;
      const endpoint = deps.pushEndpointOf(record.recipient);
      if (!endpoint) throw new PermanentStageError(`${record.recipient} has no push endpoint registered any more`);
      if (!record.content) throw new PermanentStageError(`transfer ${transferId} has no content`);
      const { envelopeSize } = record.content;
      await inRecipientSlot(record.recipient, async () => {
        const started = performance.now();
        try {
          const ack = await pushEnvelope({
            endpoint,
            transferId,
            sender: record.sender,
            recipient: record.recipient,
            envelope: envelopeOf(transferId, await prefixOf(record)),
            envelopeSize,
            tls: deps.pushTls,
            expectedInstitution: record.recipient,
            ...(deps.pushTimeoutMs ? { timeoutMs: deps.pushTimeoutMs } : {}),
          });
          await deps.results.write(transferId, {
            stage: 'deliver',
            delivery: { endpoint: ack.endpoint, envelopeSha256: ack.envelopeSha256, acknowledgedAt: ack.acknowledgedAt, duplicate: ack.duplicate },
            durationMs: performance.now() - started,
          });
        } catch (error) {
          if (error instanceof PermanentPushError) throw new PermanentStageError(error.message);
          throw error;
        }
      });
    },

    async forward(transferId) {
      const record = await load(transferId);
      if (record.status !== 'available' || (await deps.results.read(transferId, 'forward'))) return;
      const forward = deps.forward;
      if (!forward) throw new PermanentStageError('this process has no link to the peer gateways');
      await inRecipientSlot(record.recipient, async () => {
        const started = performance.now();
        const prefix = await prefixOf(record);
        const outcome = await forward(record, prefix, () => envelopeOf(transferId, prefix));
        await deps.results.write(transferId, { ...outcome, durationMs: performance.now() - started } as StageResult);
      });
    },
  };
}
