// What a worker found, handed to the gateway process through the object store: workers may run in
// other processes, and only the gateway writes records and the audit journal (one writer each). A
// result is small and holds no content (inspection counts and offsets, a push acknowledgement); the
// gateway applies it to the record and deletes it. A result lost before that only means the stage
// runs again: stages are idempotent.
import type { ObjectStore } from '../storage/object-store.js';
import type { DeliveryFacts, PeerLink } from './transfer-record.js';

export type StageResult =
  | {
      readonly stage: 'inspect';
      readonly outcome: 'pass' | 'quarantine';
      readonly inspection: Readonly<Record<string, unknown>>;
      readonly reasons: readonly unknown[];
      readonly durationMs: number;
    }
  | { readonly stage: 'deliver'; readonly delivery: DeliveryFacts; readonly durationMs: number }
  | { readonly stage: 'forward'; readonly outcome: 'accepted'; readonly delivery: DeliveryFacts; readonly durationMs: number }
  | { readonly stage: 'forward'; readonly outcome: 'refused'; readonly refusal: NonNullable<PeerLink['refusal']>; readonly durationMs: number };

const resultKey = (transferId: string, stage: StageResult['stage']): string => `stage-results/${transferId}--${stage}.json`;

export function createStageResults(objects: ObjectStore) {
  return {
    async write(transferId: string, result: StageResult): Promise<void> {
      await objects.put(resultKey(transferId, result.stage), Buffer.from(JSON.stringify(result)));
    },
    async read(transferId: string, stage: StageResult['stage']): Promise<StageResult | undefined> {
      const bytes = await objects.get(resultKey(transferId, stage));
      if (!bytes) return undefined;
      const result = JSON.parse(bytes.toString('utf8')) as StageResult;
      return result.stage === stage ? result : undefined;
    },
    async remove(transferId: string, stage: StageResult['stage']): Promise<void> {
      await objects.delete(resultKey(transferId, stage));
    },
  };
}

export type StageResults = ReturnType<typeof createStageResults>;
