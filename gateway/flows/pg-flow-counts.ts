// The flows of shared mode: one table of aggregate rows (migration 0005), each counted transfer an
// upsert that adds to its row, so any number of instances count into it at once without losing one.
// The overview's query reads the rows of its days through the primary key's leading `day`.
import type { Database } from '../database/database.js';
import { addToTally, type FlowCount, type FlowCounts, type FlowOutcome } from './flow-counts.js';

export function openPgFlowCounts(database: Database): FlowCounts {
  return {
    async add(key, bytes) {
      await database.query(
        `INSERT INTO flow_counts (day, category, direction, outcome, sender, recipient, transfers, bytes) VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
         ON CONFLICT (day, category, direction, outcome, sender, recipient) DO UPDATE SET transfers = flow_counts.transfers + 1, bytes = flow_counts.bytes + EXCLUDED.bytes`,
        [key.day, key.category, key.direction, key.outcome, key.sender, key.recipient, bytes],
      );
    },
    async query({ from, to, institution }) {
      const result = await database.query<{ day: string; category: string; direction: string; outcome: FlowOutcome; sender: string; recipient: string; transfers: string; bytes: string }>(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, category, direction, outcome, sender, recipient, transfers, bytes FROM flow_counts
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR sender = $3 OR recipient = $3)`,
        [from, to, institution ?? null],
      );
      return result.rows.map((row): FlowCount => ({ ...row, transfers: Number(row.transfers), bytes: Number(row.bytes) }));
    },
    async summary({ from, to, institution, bucket }) {
      // Summed by PostgreSQL in one pass (grouping sets): a year of a busy zone is ~10^5 rows, a
      // summary a few hundred.
      const period = bucket === 'week' ? `to_char(date_trunc('week', day), 'YYYY-MM-DD')` : `to_char(day, 'YYYY-MM-DD')`;
      const result = await database.query<{ category: string | null; direction: string | null; period: string | null; outcome: FlowOutcome; transfers: string; bytes: string }>(
        `SELECT category, direction, ${period} AS period, outcome, sum(transfers) AS transfers, sum(bytes) AS bytes FROM flow_counts
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR sender = $3 OR recipient = $3)
         GROUP BY GROUPING SETS ((category, outcome), (direction, outcome), (${period}, outcome))`,
        [from, to, institution ?? null],
      );
      const byCategory = {};
      const byDirection = {};
      const byPeriod = {};
      for (const row of result.rows) {
        const [tally, label] = row.category !== null ? [byCategory, row.category] : row.direction !== null ? [byDirection, row.direction] : [byPeriod, row.period ?? ''];
        addToTally(tally, label, row.outcome, Number(row.transfers), Number(row.bytes));
      }
      return { byCategory, byDirection, byPeriod };
    },
    async close() {
      // The pool belongs to the back-ends.
    },
  };
}
