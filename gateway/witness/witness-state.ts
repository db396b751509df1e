// The witness's memory (the WitnessState port): per log origin, the last checkpoint this witness
// cosigned. It only ever moves forward, and only by compare-and-store: a witness that checked a
// consistency proof from size N must store the new checkpoint only if N is still what it holds, or
// two submissions racing from N could both be cosigned and the second roll the first back (the
// rollback race C2SP tlog-witness warns of). Implementations: a folder of files for one process
// (file-witness-state.ts), PostgreSQL for several (pg-witness-state.ts); one contract suite
// (test/ports/witness-state.contract.ts) runs on both.

/** The last checkpoint cosigned for one origin. */
export interface WitnessedCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  /** Standard, padded base64 of the 32-byte root. */
  readonly rootHash: string;
  /** The checkpoint as submitted: the signed note text, signature lines included. */
  readonly checkpoint: string;
  /** ISO 8601 instant of the cosignature. */
  readonly cosignedAt: string;
}

export type CompareAndStoreOutcome = { readonly stored: true } | { readonly stored: false; readonly currentSize: number };

export interface WitnessState {
  /** The last checkpoint cosigned for `origin`, or undefined if none ever was. */
  get(origin: string): Promise<WitnessedCheckpoint | undefined>;
  /**
   * Stores `next` for `origin` if and only if the size held now is `expectedSize` (0 when none is
   * held), atomically with that comparison (across processes too, where the store is shared).
   * Otherwise changes nothing and says what size is held.
   * @throws GatewayError `ERR_INTERNAL` when `next.origin` is not `origin`; storage or database errors as they come.
   */
  compareAndStore(origin: string, expectedSize: number, next: WitnessedCheckpoint): Promise<CompareAndStoreOutcome>;
  /** Waits for the stores in flight, then lets go of what the state opened itself. */
  close(): Promise<void>;
}
