// The shared journal's own promises, beyond the port contract: two instances (two pools) appending
// at once make one gap-free log and agree on its tree; the checkpoint leader's role passes to another
// instance when its session dies or it closes; exports from either instance, and from the file
// journal with the same events, verify with the one offline verifier; a damaged log is refused at
// open; a database that goes away refuses appends (ERR_DATABASE_UNAVAILABLE) without a gap and
// the journal carries on when it is back.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCheckpointNoteSigner } from '../../gateway/audit/checkpoint-note.js';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { openPgAuditJournal, type PgAuditJournalOptions } from '../../gateway/audit/pg-audit-journal.js';
import { decodeHash } from '../../gateway/audit/merkle-hash.js';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { verifyInclusion } from '../../gateway/audit/verify-proof.js';
import { openDatabase, type Database } from '../../gateway/database/database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createManualSchedule, type ManualSchedule } from '../support/manual-schedule.js';
import { appendMany, collect, devSigner, fakeClock, linesOf, openJournal, SIGNING_KEY_PEM, tempDir, transferEvent } from './support.js';

const jwks = devSigner().publicJwks();
/** The leader's session lock as pg_locks shows a two-key advisory lock (pg-checkpoint-leader.ts). */
const LEADER_LOCK = { classid: 0x68657461, objid: 0x6f0002 };

let database: TestDatabase;
let admin: Database;
let journals: AuditJournal[];
let time: ReturnType<typeof fakeClock>;

beforeEach(async () => {
  database = await createTestDatabase();
  admin = database.open({ poolSize: 2 });
  journals = [];
  time = fakeClock();
});
afterEach(async () => {
  await Promise.allSettled(journals.map((journal) => journal.close()));
  await database.drop();
});

/** A journal instance with a pool of its own, as another gateway process would have. */
async function instance(options: Partial<PgAuditJournalOptions> = {}): Promise<AuditJournal> {
  const journal = await openPgAuditJournal({ database: database.open({ poolSize: 6 }), signer: devSigner(), clock: time.clock, checkpointIntervalMs: 0, ...options });
  journals.push(journal);
  return journal;
}

const exportLines = async (journal: AuditJournal): Promise<string[]> => linesOf(await collect(journal.exportRange()));
const verifyLines = (lines: string[]): ReturnType<typeof verifyExport> => verifyExport(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]), jwks);
/** The export's lines but the header and the manifest, which carry the export's own time. */
const body = (lines: string[]): string[] => lines.slice(1, -1);

/** Polls `condition` (running `step` before each look) until it holds; fails after a generous timeout. */
async function eventually(step: () => Promise<unknown>, condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await vi.waitFor(
    async () => {
      await step();
      if (!condition()) throw new Error(`not yet: ${what}`);
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

describe('two instances on one log', () => {
  it('64 concurrent appends over two instances: seqs 0..63 once each, and both trees and proofs agree', async () => {
    const a = await instance();
    const b = await instance();
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? a : b).append(transferEvent(i))));
    expect(results.map((result) => result.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(new Set(results.map((result) => result.leafHash)).size).toBe(64);
    const { rows } = await admin.query<{ count: string; max: string }>('SELECT count(*), max(seq) FROM audit_entries');
    expect(rows[0]).toEqual({ count: '64', max: '63' });

    const checkpoint = await a.checkpoint();
    if (!checkpoint) throw new Error('no checkpoint');
    expect(checkpoint.treeSize).toBe(64);
    expect(await b.latestCheckpoint()).toEqual(checkpoint);
    for (const { seq, leafHash } of results) {
      const fromA = await a.proveInclusion(seq, 64);
      const fromB = await b.proveInclusion(seq, 64);
      expect(fromB).toEqual(fromA);
      expect(fromA.leafHash).toBe(leafHash);
      const hash = (text: string): Buffer => decodeHash(text) as Buffer;
      expect(verifyInclusion({ leafIndex: seq, treeSize: 64, leafHash: hash(leafHash), proof: fromB.proof.map(hash), rootHash: hash(checkpoint.rootHash) })).toBe(true);
    }
    expect(await b.proveConsistency(10, 64)).toEqual(await a.proveConsistency(10, 64));
    // Events 12 to 15 are transfer tr-3's, wherever the race between the instances put them.
    expect(await b.entriesFor('tr-3')).toEqual([12, 13, 14, 15].map((i) => results[i]?.seq).sort((x = 0, y = 0) => x - y));
  });

  it('an entry’s time never goes back along the log, whichever instance’s clock is behind', async () => {
    const behind = fakeClock(Date.parse('2025-03-01T07:00:00.000Z'));
    const a = await instance();
    const b = await instance({ clock: behind.clock });
    await a.append(transferEvent(0));
    await b.append(transferEvent(1));
    const checkpoint = await b.checkpoint(); // signed on the slow clock: still not before the entries
    expect(checkpoint?.time).toBe('2025-03-01T08:00:00.000Z');
    const lines = await exportLines(b);
    const times = lines.flatMap((line) => {
      const parsed = JSON.parse(line) as { kind: string; entry?: { time: string } };
      return parsed.entry ? [parsed.entry.time] : [];
    });
    expect(times).toEqual(['2025-03-01T08:00:00.000Z', '2025-03-01T08:00:00.000Z']);
    expect(await verifyLines(lines)).toMatchObject({ ok: true, entries: 2 });
  });

  it('the periodic checkpoints are signed by one leader; when its session dies or it closes, another takes over', async () => {
    const schedules: ManualSchedule[] = [createManualSchedule(), createManualSchedule()];
    const changes: string[] = [];
    const [a, b] = [
      await instance({ checkpointIntervalMs: 60_000, schedule: schedules[0], onLeadershipChange: (leading) => changes.push(`a ${String(leading)}`) }),
      await instance({ checkpointIntervalMs: 60_000, schedule: schedules[1], onLeadershipChange: (leading) => changes.push(`b ${String(leading)}`) }),
    ] as [AuditJournal, AuditJournal];
    const [tickA, tickB] = [() => (schedules[0] as ManualSchedule).tick(), () => (schedules[1] as ManualSchedule).tick()];

    await appendMany(a, 5);
    await tickA();
    await tickB();
    expect(a.status().leader).toBe(true);
    expect(b.status().leader).toBe(false);
    expect((await b.latestCheckpoint())?.treeSize).toBe(5); // signed by a, seen by b
    await appendMany(b, 3, 5);
    await tickB(); // not the leader: signs nothing
    expect((await b.latestCheckpoint())?.treeSize).toBe(5);
    expect(b.status()).toMatchObject({ size: 8, checkpoint: { treeSize: 5 } });

    // The leader's session ends (its server process killed): b takes the lead and signs the next one.
    const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND granted", [LEADER_LOCK.classid, LEADER_LOCK.objid]);
    expect(rows).toHaveLength(1);
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    await eventually(tickB, () => b.status().leader === true, 'b leads');
    expect((await b.latestCheckpoint())?.treeSize).toBe(8);
    await tickA();
    expect(a.status().leader).toBe(false);
    expect(a.status()).toMatchObject({ state: 'ok', checkpoint: { treeSize: 8 } });

    // The leader closes (its final checkpoint, then its session ends): a takes the lead again.
    await appendMany(a, 2, 8);
    await b.close();
    expect((await a.latestCheckpoint())?.treeSize).toBe(10);
    await appendMany(a, 2, 10);
    await eventually(tickA, () => a.status().leader === true, 'a leads again');
    expect((await a.latestCheckpoint())?.treeSize).toBe(12);
    // Per instance (a's loss and b's gain may be told in either order).
    expect(changes.filter((change) => change.startsWith('a'))).toEqual(['a true', 'a false', 'a true']);
    expect(changes.filter((change) => change.startsWith('b'))).toEqual(['b true', 'b false']);

    const sizes = await admin.query<{ tree_size: string }>('SELECT tree_size FROM audit_checkpoints ORDER BY tree_size');
    expect(sizes.rows.map((row) => Number(row.tree_size))).toEqual([5, 8, 10, 12]);
    expect(await verifyLines(await exportLines(a))).toMatchObject({ ok: true, entries: 12, checkpoints: 4 });
  });
});

describe('exports', () => {
  it('an export from either instance verifies offline, with the very same entry and checkpoint lines', async () => {
    const a = await instance();
    const b = await instance();
    await appendMany(a, 20);
    await a.checkpoint();
    await appendMany(b, 15, 20);
    const fromB = await exportLines(b); // signs the checkpoint for 35
    time.advance(5_000);
    const fromA = await exportLines(a);
    expect(await verifyLines(fromA)).toMatchObject({ ok: true, entries: 35, checkpoints: 2 });
    expect(await verifyLines(fromB)).toMatchObject({ ok: true, entries: 35, checkpoints: 2 });
    expect(body(fromA)).toEqual(body(fromB));
    // Only the export's own time differs: in the header, and so in the manifest that signs it.
    const header = (lines: string[]): Record<string, unknown> => JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(header(fromA).exportedAt).not.toBe(header(fromB).exportedAt);
    expect({ ...header(fromA), exportedAt: undefined }).toEqual({ ...header(fromB), exportedAt: undefined });
  });

  it('the file journal and the database journal, given the same events, export what the same verifier accepts: the same entry and checkpoint lines', async () => {
    const dir = await tempDir('hetao-pg-vs-file-');
    try {
      // Each journal on a clock of its own that moves the same way, so the events get the same times;
      // both sign checkpoints as JWS and as C2SP signed notes.
      const fileTime = fakeClock();
      const sharedTime = fakeClock();
      const noteSigner = createCheckpointNoteSigner({ name: 'hetao-gateway.local/audit', privateKeyPem: SIGNING_KEY_PEM });
      const file = await openJournal(dir, { clock: fileTime.clock, noteSigner });
      const shared = await instance({ clock: sharedTime.clock, noteSigner });
      for (const [journal, clock] of [[file, fileTime], [shared, sharedTime]] as const) {
        for (let i = 0; i < 30; i += 1) {
          if (i % 10 === 0) clock.advance(1_000);
          await journal.append(transferEvent(i));
          if (i === 11) await journal.checkpoint();
        }
      }
      const fileLines = await exportLines(file);
      const sharedLines = await exportLines(shared);
      await file.close();
      expect(await verifyLines(fileLines)).toMatchObject({ ok: true, entries: 30, checkpoints: 2 });
      expect(await verifyLines(sharedLines)).toMatchObject({ ok: true, entries: 30, checkpoints: 2 });
      // Same events at the same times, same origin and key: the same entries, proofs and checkpoints.
      expect(body(sharedLines)).toEqual(body(fileLines));
      expect(sharedLines.filter((line) => line.includes('"note":'))).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a time-bounded export starts at the first entry at or after the bound', async () => {
    const journal = await instance();
    await appendMany(journal, 3);
    time.advance(60_000);
    await appendMany(journal, 3, 3);
    const lines = linesOf(await collect(journal.exportRange({ fromTime: '2025-03-01T08:00:30.000Z' })));
    const seqs = lines.flatMap((line) => {
      const parsed = JSON.parse(line) as { entry?: { seq: number } };
      return parsed.entry ? [parsed.entry.seq] : [];
    });
    expect(seqs).toEqual([3, 4, 5]);
    expect(await verifyLines(lines)).toMatchObject({ ok: true, entries: 3 });
  });
});

describe('a damaged log is refused at open', () => {
  async function damaged(change: string, reason: RegExp): Promise<void> {
    const journal = await instance();
    await appendMany(journal, 12);
    await journal.checkpoint();
    await appendMany(journal, 4, 12);
    await journal.close();
    await admin.query(change);
    const reopened = await instance();
    const status = reopened.status();
    expect(status.state).toBe('corrupt');
    expect(status.problem?.reason).toMatch(reason);
    await expect(reopened.append(transferEvent(99))).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    expect(() => reopened.exportRange()).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
    await expect(reopened.proveInclusion(0, 1)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    await expect(reopened.checkpoint()).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  }

  it('an entry changed (its leaf left alone)', () =>
    damaged(`UPDATE audit_entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'sz-hospital', 'sz-hospitax'), 'UTF8') WHERE seq = 3`, /entry 3 does not hash to its stored leaf/));

  it('a leaf changed', () => damaged(`UPDATE audit_entries SET leaf = sha256('x') WHERE seq = 14`, /entry 14 does not hash to its stored leaf/));

  it('an entry and its leaf changed together, under a checkpoint', () =>
    damaged(
      `UPDATE audit_entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'sz-hospital', 'sz-hospitax'), 'UTF8') WHERE seq = 6;
       UPDATE audit_entries SET leaf = sha256('\\x00'::bytea || entry) WHERE seq = 6`,
      /do not match the signed root for tree size 12/,
    ));

  it('an entry timed before the one before it', () => damaged(`UPDATE audit_entries SET time = time - interval '1 hour' WHERE seq = 13`, /entry 13 is timed before entry 12/));

  it('an entry deleted', () => damaged('DELETE FROM audit_entries WHERE seq = 13', /entry 13 is missing/));

  it('the newest entries deleted with the head moved back', () => damaged('DELETE FROM audit_entries WHERE seq >= 10; UPDATE audit_head SET next_seq = 10', /covers 12 entries, the journal has 10/));

  it('a checkpoint whose signature is not the gateway’s', () =>
    damaged(
      `UPDATE audit_checkpoints SET checkpoint = jsonb_set(checkpoint, '{jws}', to_jsonb(regexp_replace(checkpoint->>'jws', '\\.[^.]*$', '.' || repeat('A', 86))))`,
      /the latest checkpoint: the checkpoint signature does not verify/,
    ));
});

describe('a damaged log found while running', () => {
  it('is refused from then on, and its instance gives up leading', async () => {
    const schedule = createManualSchedule();
    const a = await instance({ checkpointIntervalMs: 60_000, schedule });
    const b = await instance();
    await appendMany(a, 4);
    await schedule.tick();
    expect(a.status()).toMatchObject({ leader: true, checkpoint: { treeSize: 4 } });
    await appendMany(b, 3, 4);
    await admin.query(`UPDATE audit_entries SET leaf = sha256('x') WHERE seq = 5`);
    await schedule.tick(); // the leader catches up to sign: entry 5 is not what it was
    expect(a.status()).toMatchObject({ state: 'corrupt', leader: false, problem: { seq: 5 } });
    await expect(a.append(transferEvent(9))).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    // Its lock's session ends (the server notices the closed connection in its own time).
    let holders = -1;
    const countHolders = async (): Promise<void> => {
      const { rows } = await admin.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2", [LEADER_LOCK.classid, LEADER_LOCK.objid]);
      holders = rows.length;
    };
    await eventually(countHolders, () => holders === 0, 'the leader lock is free');
  });
});

describe('a database that goes away', () => {
  interface Relay {
    readonly port: number;
    /** Refuses new connections and cuts the open ones. */
    cut(): Promise<void>;
    /** Listens again on the same port. */
    restore(): Promise<void>;
  }

  /** A TCP relay to the test PostgreSQL that can be cut and restored: the server going away, as the gateway sees it. */
  async function startRelay(): Promise<Relay> {
    const target = new URL(database.url);
    const sockets = new Set<Socket>();
    let server: Server | undefined;
    let port = 0;
    const listen = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const listening = createServer((client) => {
          const upstream = connect(Number(target.port), target.hostname);
          for (const socket of [client, upstream]) {
            sockets.add(socket);
            socket.on('error', () => undefined).on('close', () => {
              sockets.delete(socket);
              client.destroy();
              upstream.destroy();
            });
          }
          client.pipe(upstream).pipe(client);
        });
        listening.once('error', reject);
        listening.listen(port, '127.0.0.1', () => {
          port = (listening.address() as AddressInfo).port;
          server = listening;
          resolve();
        });
      });
    await listen();
    return {
      get port() {
        return port;
      },
      async cut() {
        const closing = server;
        server = undefined;
        for (const socket of sockets) socket.destroy();
        if (closing) await new Promise((resolve) => closing.close(resolve));
      },
      restore: listen,
    };
  }

  it('appends are refused with ERR_DATABASE_UNAVAILABLE, nothing half-written; the journal carries on when it is back', async () => {
    const relay = await startRelay();
    const url = new URL(database.url);
    url.host = `127.0.0.1:${relay.port}`;
    const pool = openDatabase({ url: url.toString(), poolSize: 4, connectTimeoutMs: 2_000, retryAfterSeconds: 3 });
    const journal = await openPgAuditJournal({ database: pool, signer: devSigner(), clock: time.clock, checkpointIntervalMs: 0 });
    try {
      await appendMany(journal, 5);
      await relay.cut();
      await expect(journal.append(transferEvent(5))).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE', status: 503, details: { retryAfterSeconds: 3 } });
      await expect(Promise.all([journal.append(transferEvent(5)), journal.append(transferEvent(6))])).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
      await expect(journal.checkpoint()).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
      expect(journal.status().state).toBe('ok');

      await relay.restore();
      expect((await journal.append(transferEvent(5))).seq).toBe(5);
      await appendMany(journal, 4, 6);
      const { rows } = await admin.query<{ seq: string }>('SELECT seq FROM audit_entries ORDER BY seq');
      expect(rows.map((row) => Number(row.seq))).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(await verifyLines(await exportLines(journal))).toMatchObject({ ok: true, entries: 10 });
    } finally {
      await journal.close();
      await pool.close();
      await relay.cut();
    }
  });
});
