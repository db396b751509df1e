// The flows of one process, in a file of increments (one JSON line per counted transfer, appended and
// flushed to disk), summed in memory at open and as they come. The file grows by one short line per
// outcome: a year of a busy zone is a few tens of MiB, read once at start.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { addToTally, FLOW_OUTCOMES, keyString, weekOf, type FlowCount, type FlowCounts, type FlowKey, type FlowQuery } from './flow-counts.js';

const FILE = 'flows.ndjson';

const isKey = (value: unknown): value is FlowKey & { bytes: number } => {
  const row = value as Record<string, unknown> | null;
  return (
    typeof row === 'object' &&
    row !== null &&
    ['day', 'category', 'direction', 'sender', 'recipient'].every((field) => typeof row[field] === 'string') &&
    (FLOW_OUTCOMES as readonly unknown[]).includes(row.outcome) &&
    Number.isSafeInteger(row.bytes)
  );
};

export async function openFileFlowCounts(dir: string): Promise<FlowCounts> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, FILE);
  const rows = new Map<string, FlowCount>();
  const count = (key: FlowKey, bytes: number): void => {
    const id = keyString(key);
    const row = rows.get(id);
    rows.set(id, { day: key.day, category: key.category, direction: key.direction, outcome: key.outcome, sender: key.sender, recipient: key.recipient, transfers: (row?.transfers ?? 0) + 1, bytes: (row?.bytes ?? 0) + bytes });
  };
  const handle: FileHandle = await open(file, 'a+');
  // A torn last line (a crash mid-append) is skipped: that one increment is lost, nothing else.
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    try {
      const row = JSON.parse(line) as unknown;
      if (isKey(row)) count(row, row.bytes);
    } catch {
      /* the torn tail */
    }
  }
  // A torn tail is closed with a newline, so that the next line is not glued onto it.
  const { size } = await handle.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await handle.appendFile('\n');
  }
  const rowsOf = ({ from, to, institution }: FlowQuery): FlowCount[] =>
    [...rows.values()].filter((row) => row.day >= from && row.day <= to && (institution === undefined || row.sender === institution || row.recipient === institution));
  // Group commit: the adds that arrive while a write is on disk go out together in the next one (one
  // append and one datasync), so counting never queues an fsync per transfer behind a busy disk.
  let batch: { lines: string[]; counted: (() => void)[]; done: Promise<void> } | undefined;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const flush = async (lines: string[], counted: (() => void)[]): Promise<void> => {
    await handle.appendFile(lines.join(''));
    await handle.datasync();
    for (const apply of counted) apply();
  };
  return {
    add(key, bytes) {
      if (closed) return Promise.reject(new GatewayError('ERR_SERVICE_UNAVAILABLE', 'the flow counts are closed'));
      const { day, category, direction, outcome, sender, recipient } = key;
      const line = `${JSON.stringify({ day, category, direction, outcome, sender, recipient, bytes })}\n`;
      if (!batch) {
        const lines: string[] = [];
        const counted: (() => void)[] = [];
        const done = writing.then(() => {
          batch = undefined;
          return flush(lines, counted);
        });
        batch = { lines, counted, done };
        writing = done.catch(() => undefined);
      }
      batch.lines.push(line);
      batch.counted.push(() => count(key, bytes));
      return batch.done;
    },
    async query(query) {
      return rowsOf(query);
    },
    async summary(query) {
      const byCategory = {};
      const byDirection = {};
      const byPeriod = {};
      const weeks = new Map<string, string>();
      for (const row of rowsOf(query)) {
        addToTally(byCategory, row.category, row.outcome, row.transfers, row.bytes);
        addToTally(byDirection, row.direction, row.outcome, row.transfers, row.bytes);
        let period = row.day;
        if (query.bucket === 'week') {
          period = weeks.get(row.day) ?? weekOf(row.day);
          weeks.set(row.day, period);
        }
        addToTally(byPeriod, period, row.outcome, row.transfers, row.bytes);
      }
      return { byCategory, byDirection, byPeriod };
    },
    async close() {
      if (closed) return;
      closed = true;
      await writing;
      await handle.close();
    },
  };
}
