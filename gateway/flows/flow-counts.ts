// The flows port: what crossed (or was stopped), counted as it happens, so that the console's overview
// reads a few aggregate rows per day instead of scanning the records. One row per day (UTC), data
// category, direction, outcome and sender→recipient pair holds how many transfers and how many
// declared bytes. Rows only grow: each outcome is counted once, when it happens (a transfer allowed
// and later quarantined counts once under each). Implementations: a file of increments (embedded) and
// a PostgreSQL table (shared mode); both pass test/ports/flow-counts.contract.ts.

export const FLOW_OUTCOMES = ['allowed', 'denied', 'quarantined', 'refused-by-peer', 'received'] as const;
export type FlowOutcome = (typeof FLOW_OUTCOMES)[number];

export interface FlowKey {
  /** YYYY-MM-DD, UTC. */
  readonly day: string;
  readonly category: string;
  /** e.g. CN→HK, HK→CN, CN→outside (decision-input.ts). */
  readonly direction: string;
  readonly outcome: FlowOutcome;
  readonly sender: string;
  readonly recipient: string;
}

export interface FlowCount extends FlowKey {
  readonly transfers: number;
  readonly bytes: number;
}

export interface FlowQuery {
  /** First and last day (YYYY-MM-DD, inclusive). */
  readonly from: string;
  readonly to: string;
  /** Only flows this institution sent or received. */
  readonly institution?: string;
}

/** Transfers and bytes per row label and outcome. */
export type FlowTally = Readonly<Record<string, Partial<Readonly<Record<FlowOutcome, { readonly transfers: number; readonly bytes: number }>>>>>;

/** A period's flows summed three ways, as the overview shows them. */
export interface FlowSummary {
  readonly byCategory: FlowTally;
  readonly byDirection: FlowTally;
  /** By day (YYYY-MM-DD), or by ISO week (the Monday, YYYY-MM-DD). */
  readonly byPeriod: FlowTally;
}

export interface FlowCounts {
  /** Counts one transfer of `bytes` under `key`. */
  add(key: FlowKey, bytes: number): Promise<void>;
  /** The query's flows summed by category, direction and day or week — where the rows are, not by the caller. */
  summary(query: FlowQuery & { readonly bucket: 'day' | 'week' }): Promise<FlowSummary>;
  /** The rows of the query's days (and institution), in no particular order. */
  query(query: FlowQuery): Promise<FlowCount[]>;
  close(): Promise<void>;
}

export const dayOf = (at: Date): string => at.toISOString().slice(0, 10);

/** The Monday (UTC) of a day's ISO week, YYYY-MM-DD. */
export const weekOf = (day: string): string => {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  return date.toISOString().slice(0, 10);
};

/** Adds `row` to `tally` under `label` (for implementations that sum in memory). */
export function addToTally(tally: Record<string, Partial<Record<FlowOutcome, { transfers: number; bytes: number }>>>, label: string, outcome: FlowOutcome, transfers: number, bytes: number): void {
  const line = (tally[label] ??= {});
  const cell = line[outcome];
  line[outcome] = cell ? { transfers: cell.transfers + transfers, bytes: cell.bytes + bytes } : { transfers, bytes };
}

export const keyString = (key: FlowKey): string => JSON.stringify([key.day, key.category, key.direction, key.outcome, key.sender, key.recipient]);
