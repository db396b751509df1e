// The policy history of one process in a folder: `revisions/<revision>.json`, one file per accepted
// revision, each written whole (temporary file, fsync, rename, fsync of the folder: a crash leaves it
// or nothing), and `reloads.ndjson`, one JSON line per reload attempt, appended and flushed to disk.
// Revisions are few (one per policy change) and reloads a handful a day, so reads list and parse the
// files each time rather than keep anything in memory. This process must be the folder's only writer:
// several instances share the PostgreSQL history instead.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { readJsonFile } from '../durable/read-json-file.js';
import { GatewayError } from '../errors.js';
import { oneAtATimePerKey } from '../serial/one-at-a-time.js';
import { namingStorageErrors } from '../storage/storage-errors.js';
import {
  historyLimitOf,
  isPolicyReloadRecord,
  isPolicyRevisionId,
  isPolicyRevisionRecord,
  reloadToRecord,
  revisionToKeep,
  summaryOf,
  type PolicyHistory,
  type PolicyReloadRecord,
  type PolicyRevisionRecord,
} from './policy-history.js';

const REVISIONS = 'revisions';
const RELOADS = 'reloads.ndjson';
const TEMPORARY = '.tmp';
const REVISION_FILE = /^[0-9a-f]{64}\.json$/;
const APPENDS = 'reloads';

/** A revision as stored: `kept` orders revisions first accepted at the same instant (the later kept first). */
interface StoredRevision extends PolicyRevisionRecord {
  readonly kept: number;
}

const isStoredRevision = (value: unknown, revision: string): value is StoredRevision =>
  isPolicyRevisionRecord(value) && value.revision === revision && Number.isSafeInteger((value as unknown as Record<string, unknown>).kept);

/**
 * Opens the history in `dir` (created if missing), removing the temporary files a crash may have left.
 * Writes reject with ERR_STORAGE_FULL / ERR_STORAGE_UNAVAILABLE on a full or failing disk; reads with
 * ERR_INTERNAL for a revision file that is not one; everything with ERR_SERVICE_UNAVAILABLE once closed.
 */
export async function openFilePolicyHistory(dir: string): Promise<PolicyHistory> {
  const revisionsDir = path.join(dir, REVISIONS);
  const reloadsFile = path.join(dir, RELOADS);
  await namingStorageErrors({ path: revisionsDir, operation: 'mkdir' }, undefined, () => mkdir(revisionsDir, { recursive: true }));
  for (const name of await readdir(revisionsDir)) {
    if (name.endsWith(TEMPORARY)) await rm(path.join(revisionsDir, name), { force: true });
  }

  const readRevision = async (revision: string): Promise<StoredRevision | undefined> => {
    const file = path.join(revisionsDir, `${revision}.json`);
    const read = await readJsonFile(file);
    if (!read.found) return undefined;
    const stored = read.value;
    // Written whole or not at all: a file that does not parse was damaged after the fact.
    if (!isStoredRevision(stored, revision)) throw new GatewayError('ERR_INTERNAL', `the policy history file ${file} is not a record of revision ${revision}`);
    return stored;
  };
  const readAllRevisions = async (): Promise<StoredRevision[]> => {
    const names = (await readdir(revisionsDir)).filter((name) => REVISION_FILE.test(name));
    const stored = await Promise.all(names.map((name) => readRevision(name.slice(0, -'.json'.length))));
    return stored.filter((revision): revision is StoredRevision => revision !== undefined);
  };
  let nextKept = (await readAllRevisions()).reduce((max, revision) => Math.max(max, revision.kept), 0) + 1;

  const handle: FileHandle = await namingStorageErrors({ path: reloadsFile, operation: 'open' }, undefined, () => open(reloadsFile, 'a+'));
  // A torn tail (a crash mid-append) is closed with a newline before the next line, so that the next
  // line is not glued onto it; so is one left by an append that failed while open.
  let tornTail = false;
  const { size } = await handle.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    tornTail = last[0] !== 0x0a;
  }

  const oneAtATime = oneAtATimePerKey();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  const refuseIfClosed = (): void => {
    if (closed) throw new GatewayError('ERR_SERVICE_UNAVAILABLE', 'the policy history is closed');
  };
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.catch(() => undefined).finally(() => inFlight.delete(work));
    return work;
  };

  const putWhole = async (final: string, text: string): Promise<void> => {
    const temp = `${final}.${randomUUID()}${TEMPORARY}`;
    try {
      await namingStorageErrors({ path: final, operation: 'put' }, undefined, async () => {
        const file = await open(temp, 'wx');
        try {
          await file.writeFile(text, 'utf8');
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temp, final);
        const folder = await open(revisionsDir, 'r');
        try {
          await folder.sync();
        } finally {
          await folder.close();
        }
      });
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  };

  const exists = (file: string): Promise<boolean> =>
    stat(file).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );

  return {
    async keepRevision(input) {
      refuseIfClosed();
      const record = revisionToKeep(input);
      const final = path.join(revisionsDir, `${record.revision}.json`);
      // One keep per revision at a time, so that the exists-check and the rename do not race here.
      return track(
        oneAtATime(`revision:${record.revision}`, async () => {
          if (await exists(final)) return;
          const stored: StoredRevision = { ...record, kept: nextKept++ };
          await putWhole(final, `${JSON.stringify(stored)}\n`);
        }),
      );
    },
    async recordReload(reload) {
      refuseIfClosed();
      const line = `${JSON.stringify(reloadToRecord(reload))}\n`;
      return track(
        oneAtATime(APPENDS, () =>
          namingStorageErrors({ path: reloadsFile, operation: 'append' }, undefined, async () => {
            const bytes = tornTail ? `\n${line}` : line;
            // Until this append is known to be whole, the file may end in part of it.
            tornTail = true;
            await handle.appendFile(bytes, 'utf8');
            tornTail = false;
            await handle.datasync();
          }),
        ),
      );
    },
    async revisions(options) {
      refuseIfClosed();
      const limit = historyLimitOf(options);
      const all = await readAllRevisions();
      all.sort((a, b) => (a.firstAcceptedAt === b.firstAcceptedAt ? b.kept - a.kept : a.firstAcceptedAt < b.firstAcceptedAt ? 1 : -1));
      return all.slice(0, limit).map(summaryOf);
    },
    async revision(revision) {
      refuseIfClosed();
      if (!isPolicyRevisionId(revision)) return undefined;
      const stored = await readRevision(revision);
      return stored && { revision: stored.revision, firstAcceptedAt: stored.firstAcceptedAt, files: stored.files };
    },
    async reloads(options) {
      refuseIfClosed();
      const limit = historyLimitOf(options);
      const recorded: PolicyReloadRecord[] = [];
      // A line that does not parse is a torn tail (the last line, or one closed by a later newline):
      // that one attempt is lost, nothing else.
      for await (const line of createInterface({ input: createReadStream(reloadsFile), crlfDelay: Infinity })) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          continue;
        }
        if (isPolicyReloadRecord(value)) recorded.push(value);
      }
      // Newest recorded first, then a stable sort by time keeps that order among equal instants.
      recorded.reverse();
      recorded.sort((a, b) => (a.at === b.at ? 0 : a.at < b.at ? 1 : -1));
      return recorded.slice(0, limit);
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inFlight]);
      await handle.close();
    },
  };
}
