// The transfer records port: where the transfer service keeps its records. One file-backed
// implementation today (records/file-record-store.ts); the shared-mode PostgreSQL one plugs in here.
// A list or a sweep is a query the store answers (filters, order, cursor), not a scan in the caller,
// so an indexed back-end can answer it without reading every record. Saves are conditional on the
// record's revision (optimistic concurrency): in shared mode several instances write the same records,
// and the store, not a lock in one process, decides which of two racing changes wins. Every
// implementation passes test/ports/record-store.contract.ts.
// The US persons a sender already carried to a recipient (28 CFR 202.205 counts "bulk" over the
// preceding 12 months, across every transaction of the pair) are a sum the store answers from an
// index too; a decision reads it and saves its record under the pair's lock, so two decisions for one
// pair cannot both read the sum before either record is saved.
import type { UsPersonCounts } from '../policy/manifest.js';
import type { TransferRecord, TransferStatus } from './transfer-record.js';

export interface RecordQuery {
  /** The institution whose transfers are listed. */
  readonly party: string;
  /** Its side of the transfers. */
  readonly as: 'sender' | 'recipient';
  readonly status?: TransferStatus;
  /** Keyset cursor: the id of the last record of the previous page (ids are time-ordered). */
  readonly after?: string;
  readonly limit: number;
}

export interface RecordPage {
  /** Newest first. */
  readonly records: TransferRecord[];
  /** The cursor of the next page; undefined on the last one. */
  readonly next: string | undefined;
}

/** Which records a sweep (recovery, retention, reconciliation) visits; every given filter applies. */
export interface RecordSelection {
  readonly statuses?: readonly TransferStatus[];
  /** Only records whose retention ends at or before this instant (ISO 8601). */
  readonly retentionEndsBy?: string;
  /** Only records with a stage still to run (`pendingStages` not empty). */
  readonly withPendingStages?: boolean;
  /**
   * Only `uploading` records whose upload lease expires at or before this instant (ISO 8601), or that
   * have no lease: uploads whose instance stopped renewing (crashed, cut off).
   */
  readonly leaseExpiredBy?: string;
}

export interface RecordStore {
  get(id: string): Promise<TransferRecord | undefined>;
  /**
   * Stores the record durably (created or replaced as a whole) and resolves to it as stored, with its
   * new `revision`. A record without `revision` is new (stored at revision 1); one with revision r
   * replaces the stored record only if that is still at revision r (stored at r + 1).
   * @throws GatewayError ERR_TRANSFER_CONFLICT when a new record's id exists, or the stored record is
   *   not (or no longer) at the given revision; nothing is changed then.
   */
  save(record: TransferRecord): Promise<TransferRecord>;
  /**
   * Moves the upload lease's expiry to `expiresAt` if the record is `uploading` and its lease is
   * `holder`'s; the revision stays (a renewal is not a change of the transfer).
   * @returns false when the lease is lost: another holder, no lease, not uploading, or no such record.
   */
  renewLease(id: string, holder: string, expiresAt: string): Promise<boolean>;
  list(query: RecordQuery): Promise<RecordPage>;
  /** The records a selection names, oldest first; a sweep may save records while it iterates. */
  select(selection: RecordSelection): AsyncIterable<TransferRecord>;
  /**
   * The US persons per category (manifest.us.personCounts) of the transfers from `sender` to
   * `recipient` whose records were created at or after `since` (ISO 8601), but those cancelled or failed
   * (they carried nothing for sure); every category present, 0 when none.
   */
  usPersonsCarried(sender: string, recipient: string, since: string): Promise<UsPersonCounts>;
  /**
   * Runs `work` while no other caller — in this process or, in shared mode, any instance on the same
   * database — runs work for the same sender→recipient pair; resolves or rejects with `work`'s outcome.
   */
  withPairLock<T>(sender: string, recipient: string, work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** What a stage worker needs: the current record, read from the store itself (another process writes it). */
export type RecordReader = Pick<RecordStore, 'get'>;
