// What happens to transfers, as typed domain events. The transfer service emits one event per saved
// change of a record, per download and per refused decision; the audit journal, the stage
// coordinator and the metrics subscribe. Subscribers never call back into whoever composed them.
import type { Decision } from '../policy/evaluate-policy.js';
import type { Manifest } from '../policy/manifest.js';
import type { Caller } from './caller.js';
import type { TransferRecord } from './transfer-record.js';

/** Every change of a transfer's record, named as its history names it. */
export type TransferChange =
  | 'authorized'
  | 'upload-started'
  | 'upload-failed'
  | 'upload-interrupted'
  /** A resumable upload's sender stopped sending (a request ended or was cut); what arrived is stored up to the last whole segment. */
  | 'upload-paused'
  /** A paused resumable upload goes on, here or on another instance. */
  | 'upload-resumed'
  | 'upload-completed'
  | 'queued'
  | 'quarantined'
  | 'processing-started'
  | 'processing-completed'
  | 'processing-failed'
  | 'delivered'
  | 'delivery-failed'
  | 'received'
  | 'receipt-mismatch'
  | 'cancelled'
  | 'retention-expired'
  /** Across the channel (docs/peering.md): the peer gateway took the envelope, refused it, or could not be given it. */
  | 'forwarded'
  | 'refused-by-peer'
  | 'forward-failed'
  /** Inbound from the peer gateway: its envelope arrived whole. */
  | 'envelope-received';

/** Who caused an event: an institution's lab system, a person, or the gateway itself. */
export interface TransferActor {
  readonly kind: 'institution' | 'person' | 'gateway';
  readonly id: string;
}

export const GATEWAY_ACTOR: TransferActor = { kind: 'gateway', id: 'gateway' };

export function actorOf(caller: Caller): TransferActor {
  return { kind: caller.role === 'institution' ? 'institution' : caller.role === 'peer-gateway' ? 'gateway' : 'person', id: caller.id };
}

export type TransferEvent =
  /** The record was saved in its new state. */
  | { readonly type: 'changed'; readonly change: TransferChange; readonly record: TransferRecord; readonly actor: TransferActor }
  /** The envelope (or a range of it) was handed to a holder. */
  | { readonly type: 'downloaded'; readonly record: TransferRecord; readonly actor: TransferActor; readonly range: { readonly start: number; readonly end: number } }
  /** A manifest was denied by policy: no transfer exists. */
  | { readonly type: 'refused'; readonly decision: Decision; readonly manifest: Manifest; readonly actor: TransferActor };

export type TransferEventSubscriber = (event: TransferEvent) => void | Promise<void>;

export interface TransferEvents {
  /**
   * A subscriber the event waits for: the operation is not done, and the API does not answer, until
   * it has run; its failure fails the operation. The audit journal subscribes so: its entry is
   * durable before the answer, exactly one per event.
   */
  within(subscriber: TransferEventSubscriber): void;
  /**
   * A subscriber told once the operation is done, not waited for: it may start work that needs the
   * transfer (an inline stage takes the transfer's lock, which the operation still holds).
   */
  after(subscriber: TransferEventSubscriber): void;
  /** Runs the `within` subscribers in order of subscription, then schedules the `after` ones. */
  emit(event: TransferEvent): Promise<void>;
}

/** @param onAfterError told when an `after` subscriber fails (nobody waits for it to report it). */
export function createTransferEvents(onAfterError: (error: unknown, event: TransferEvent) => void): TransferEvents {
  const within: TransferEventSubscriber[] = [];
  const after: TransferEventSubscriber[] = [];
  return {
    within: (subscriber) => void within.push(subscriber),
    after: (subscriber) => void after.push(subscriber),
    async emit(event) {
      for (const subscriber of within) await subscriber(event);
      for (const subscriber of after) {
        queueMicrotask(() => {
          Promise.resolve()
            .then(() => subscriber(event))
            .catch((error: unknown) => onAfterError(error, event));
        });
      }
    },
  };
}
