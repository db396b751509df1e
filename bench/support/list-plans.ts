// The plans of the PostgreSQL record store's list queries, for the record benches: the statement the
// store sends (recorded on its way to the pool), explained; and a survey of the planner's choices over
// parties big and small. A list must be read from its party's index (records/pg-record-store.ts and the
// transfers migration say why); anything else is reported.
import type { Database } from '../../gateway/database/database.js';
import { openPgRecordStore } from '../../gateway/records/pg-record-store.js';
import type { RecordQuery } from '../../gateway/transfer/record-store.js';
import type { TransferStatus } from '../../gateway/transfer/transfer-record.js';

/** The plan of the statement the store sends for `query`: text (with ANALYZE and BUFFERS), or JSON (estimates only). */
export async function explainList(database: Database, query: RecordQuery, form: 'analyze' | 'json'): Promise<string> {
  let statement: { text: string; values: readonly unknown[] } | undefined;
  const recording: Database = { ...database, query: (text, values) => ((statement = { text, values: values ?? [] }), database.query(text, values)) };
  await openPgRecordStore(recording).list(query);
  if (!statement) throw new Error('the list sent no statement');
  const options = form === 'analyze' ? '(ANALYZE, BUFFERS)' : '(FORMAT JSON)';
  const { rows } = await database.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN ${options} ${statement.text}`, statement.values);
  return form === 'json' ? JSON.stringify(rows[0]?.['QUERY PLAN']) : rows.map((row) => row['QUERY PLAN']).join('\n');
}

/** Read in order from a party index: no sort, no walk over other parties' rows. */
export const isOrderedIndexScan = (plan: string): boolean => /Index Scan( Backward)? using transfers_(sender|recipient)_(status_)?list\b/.test(plan) && !/\bSort\b/.test(plan);

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Index Name'?: string;
  readonly 'Plan Rows': number;
  readonly Plans?: readonly PlanNode[];
}

/**
 * What the planner does for one list: `ordered` (a party index read in order, the page and no more),
 * `sorted` (the party index's matching rows fetched and sorted: the planner's pick when it expects few),
 * or anything else — a walk over other parties' rows or a scan of the table, which must not happen.
 */
function planKind(root: PlanNode): { kind: 'ordered' | 'sorted' | 'other'; rows: number } {
  const partyIndex = (node: PlanNode | undefined): boolean => /^transfers_(sender|recipient)_(status_)?list$/.test(node?.['Index Name'] ?? '');
  const top = root['Node Type'] === 'Limit' ? root.Plans?.[0] : root;
  if (top?.['Node Type'] === 'Index Scan' && partyIndex(top)) return { kind: 'ordered', rows: top['Plan Rows'] };
  const heap = top?.['Node Type'] === 'Sort' ? top.Plans?.[0] : undefined;
  if (heap?.['Node Type'] === 'Bitmap Heap Scan' && partyIndex(heap.Plans?.[0])) return { kind: 'sorted', rows: heap['Plan Rows'] };
  return { kind: 'other', rows: top?.['Plan Rows'] ?? Number.NaN };
}

/**
 * The planner's choice for the first pages of parties big and small (`names` by rank), both sides,
 * each of `statuses`; prints a tally and any plan off the party indexes, which it returns the count of.
 */
export async function surveyPlans(database: Database, names: readonly string[], statuses: readonly TransferStatus[], limit: number): Promise<{ other: number }> {
  const ranks = [0, 1, 4, 9, 19, 49, 99, 199].filter((rank) => rank < names.length);
  const tally = { ordered: 0, sorted: 0, other: 0 };
  let largestSorted = 0;
  for (const rank of ranks) {
    for (const as of ['sender', 'recipient'] as const) {
      for (const status of statuses) {
        const plan = JSON.parse(await explainList(database, { party: names[rank] as string, as, status, limit }, 'json')) as [{ Plan: PlanNode }];
        const { kind, rows } = planKind(plan[0].Plan);
        tally[kind] += 1;
        if (kind === 'sorted') largestSorted = Math.max(largestSorted, rows);
        if (kind === 'other') console.log(`    NOT FROM A PARTY INDEX: ${names[rank]} ${as} ${status}: ${JSON.stringify(plan[0].Plan).slice(0, 300)}`);
      }
    }
  }
  console.log(
    `  plans of ${tally.ordered + tally.sorted + tally.other} first pages (parties of rank ${ranks.map((rank) => rank + 1).join(', ')}; both sides; ${statuses.join(', ')}): ` +
      `${tally.ordered} read a party index in order; ${tally.sorted} fetch the few matching rows from it and sort them (at most ${largestSorted} expected); ${tally.other} other`,
  );
  return { other: tally.other };
}
