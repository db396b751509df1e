// Counts of identifiers by kind, with the byte offsets of the first few: all the scan keeps of what it
// matched. Fixed size whatever the input.
import type { IdentifierKind } from './inspection-report.js';

/** Offsets kept per kind. */
export const MAX_OFFSETS = 5;

export interface IdentifierCount {
  readonly count: number;
  readonly firstOffsets: readonly number[];
}

export interface IdentifierTally {
  record(kind: IdentifierKind, offset: number): void;
  /** Kinds seen at least once, in the order first seen. */
  entries(): ReadonlyMap<IdentifierKind, IdentifierCount>;
}

/** An empty tally. */
export function createIdentifierTally(): IdentifierTally {
  const counts = new Map<IdentifierKind, { count: number; firstOffsets: number[] }>();
  return {
    record(kind, offset) {
      let entry = counts.get(kind);
      if (!entry) {
        entry = { count: 0, firstOffsets: [] };
        counts.set(kind, entry);
      }
      entry.count += 1;
      if (entry.firstOffsets.length < MAX_OFFSETS) entry.firstOffsets.push(offset);
    },
    entries: () => counts,
  };
}
