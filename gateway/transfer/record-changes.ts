// Saving a transfer's change and announcing it are one step: the record as stored is what is
// announced, and the journal (a `within` subscriber) writes its entry before the step is done. Every
// writer of transfer records — the transfer service, inbound transfers from the peer gateway, the
// peer's receipts — saves through one of these. Once closed (a stop, just before it closes the
// journal) no change is saved, and close() waits for the ones being saved: no record holds a change
// the journal lacks, however late an operation cut by the stop comes to save it. A change refused so
// is left for the next start (which resets interrupted uploads, journaled).
import { GatewayError } from '../errors.js';
import type { RecordStore } from './record-store.js';
import type { TransferActor, TransferChange, TransferEvents } from './transfer-events.js';
import type { TransferRecord } from './transfer-record.js';

export interface RecordChanges {
  /** Saves `record` and announces `change`; resolves with the record as stored. @throws GatewayError ERR_SERVICE_UNAVAILABLE once closed */
  save(record: TransferRecord, change: TransferChange, actor: TransferActor): Promise<TransferRecord>;
  /** Refuses every change from now on; resolves once the changes being saved are saved and announced. */
  close(): Promise<void>;
}

export function createRecordChanges(deps: { readonly records: Pick<RecordStore, 'save'>; readonly events: Pick<TransferEvents, 'emit'> }): RecordChanges {
  const saving = new Set<Promise<unknown>>();
  let closed = false;
  return {
    async save(record, change, actor) {
      if (closed) throw new GatewayError('ERR_SERVICE_UNAVAILABLE', 'the gateway is stopping: the change was not made');
      const work = (async () => {
        const stored = await deps.records.save(record);
        await deps.events.emit({ type: 'changed', change, record: stored, actor });
        return stored;
      })();
      saving.add(work);
      try {
        return await work;
      } finally {
        saving.delete(work);
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([...saving]);
    },
  };
}
