// The back-ends a process runs on, chosen by configuration: embedded (files under HETAO_DATA_DIR: one
// process owns them) or shared (PostgreSQL for records and the audit journal, S3 for envelopes: any
// number of instances). Opened here once for the gateway and for `hetao worker`, so both always
// agree on where the truth is; tests plug in other stores through GatewayBackends.
import path from 'node:path';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { createAuditJournal, type AuditJournal, type AuditRecovery } from '../audit/create-audit-journal.js';
import type { CheckpointNoteSigner } from '../audit/checkpoint-note.js';
import type { CosignedCheckpoint } from '../audit/export-range.js';
import { openPgAuditJournal } from '../audit/pg-audit-journal.js';
import type { Database } from '../database/database.js';
import { checkDatabaseSchema } from '../database/migrate.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { openFileRecordReader, openFileRecordStore } from '../records/file-record-store.js';
import { openPgRecordStore } from '../records/pg-record-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { StorageErrorObserver } from '../storage/storage-errors.js';
import type { ThreadPool } from '../threads/thread-pool.js';
import type { RecordReader, RecordStore } from '../transfer/record-store.js';
import { openFilesystemStore, type OpenObjectStore } from './object-stores.js';

export interface BackEndOptions {
  readonly role: 'gateway' | 'worker';
  readonly onStorageError: StorageErrorObserver;
  readonly threads: ThreadPool<'io' | 'bulk'>;
  /** Told when an idle database connection fails (a server restart): logged, the pool replaces it. */
  readonly onDatabaseError: (error: Error) => void;
  /** A store other than the configured one (tests). */
  readonly openObjectStore?: OpenObjectStore;
}

export interface BackEnds {
  readonly mode: 'embedded' | 'shared';
  readonly database: Database | undefined;
  readonly objects: ObjectStore;
  /** What `/readyz` reports for the back-ends; `ok: false` names what is down. */
  readiness(): Promise<Record<string, { ok: boolean } & Record<string, unknown>>>;
}

/** The object store and (shared mode) the database; the record store and journal open on them. */
export async function openBackEnds(config: GatewayConfig, options: BackEndOptions, opened: (() => unknown)[]): Promise<BackEnds> {
  let database: Database | undefined;
  if (config.database) {
    // Loaded only in shared mode: the PostgreSQL client (like the S3 SDK below and BullMQ in
    // start-stage-workers.ts) costs the embedded process memory it never uses (~15 MiB here).
    const { openDatabase } = await import('../database/database.js');
    const opening = openDatabase({ ...config.database, onIdleError: options.onDatabaseError });
    opened.push(() => opening.close());
    // A database at another schema is refused before anything is read or written.
    await checkDatabaseSchema(opening);
    database = opening;
  }
  const openObjects: OpenObjectStore =
    options.openObjectStore ?? (config.s3 ? (settings, storeOptions) => openS3Store(settings, storeOptions.onStorageError) : openFilesystemStore);
  const objects = await openObjects(config, { onStorageError: options.onStorageError, role: options.role, threads: options.threads });
  opened.push(() => objects.close());
  return {
    mode: database ? 'shared' : 'embedded',
    database,
    objects,
    async readiness() {
      const report: Record<string, { ok: boolean } & Record<string, unknown>> = {};
      if (database) {
        const up = await database.ping().then(
          () => undefined,
          (error: unknown) => (error as Error).message,
        );
        report.database = up === undefined ? { ok: true, pool: database.stats() } : { ok: false, error: up };
      }
      // A probe key nobody writes: absent is the healthy answer, an error is a store that does not answer.
      const store = await objects.stat(READINESS_PROBE_KEY).then(
        () => undefined,
        (error: unknown) => (error instanceof GatewayError ? error.code : (error as Error).message),
      );
      report.objectStore = { ok: store === undefined, kind: config.s3 ? 's3' : 'filesystem', ...(store ? { error: store } : {}) };
      return report;
    },
  };
}

async function openS3Store(config: GatewayConfig, onStorageError: StorageErrorObserver): Promise<ObjectStore> {
  const s3 = config.s3;
  if (!s3) throw new GatewayError('ERR_CONFIG_INVALID', 'no S3 bucket configured');
  const { createS3Store } = await import('../storage/s3-store.js');
  return createS3Store({
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region: s3.region,
    bucket: s3.bucket,
    ...(s3.credentials ? { credentials: s3.credentials } : {}),
    forcePathStyle: s3.forcePathStyle,
    partSizeBytes: s3.partSizeBytes,
    queueSize: s3.queueSize,
    requestTimeoutMs: s3.requestTimeoutMs,
    onStorageError,
  });
}

/** The transfer records: PostgreSQL in shared mode, else files beside the envelopes. */
export function openRecordStore(backEnds: BackEnds): Promise<RecordStore> {
  return backEnds.database ? Promise.resolve(openPgRecordStore(backEnds.database)) : openFileRecordStore(backEnds.objects);
}

/** What a worker reads the records through. */
export function openRecordReader(backEnds: BackEnds): RecordReader {
  return backEnds.database ? openPgRecordStore(backEnds.database) : openFileRecordReader(backEnds.objects);
}

export interface JournalOptions {
  readonly signer: GatewaySigner;
  /** Signs each checkpoint as a C2SP signed note too (what the peer gateway's witness cosigns). */
  readonly noteSigner: CheckpointNoteSigner;
  /** The checkpoints peers cosigned, which exports carry. */
  readonly cosigned: () => Promise<readonly CosignedCheckpoint[]>;
  readonly threads: ThreadPool<'io'>;
  readonly onStorageError: StorageErrorObserver;
  readonly checkpointIntervalMs: number;
  readonly onRecover: (recovery: AuditRecovery) => void;
  /** Shared mode: told when this instance starts or stops signing the checkpoints. */
  readonly onLeadershipChange: (leading: boolean) => void;
}

/** The audit journal: one log in PostgreSQL for every instance in shared mode, else a file. */
export async function openJournal(config: GatewayConfig, backEnds: BackEnds, options: JournalOptions): Promise<AuditJournal> {
  if (backEnds.database) {
    return openPgAuditJournal({
      database: backEnds.database,
      signer: options.signer,
      noteSigner: options.noteSigner,
      cosigned: options.cosigned,
      origin: config.auditOrigin,
      checkpointIntervalMs: options.checkpointIntervalMs,
      onLeadershipChange: options.onLeadershipChange,
    });
  }
  return createAuditJournal({
    dir: path.join(config.dataDir, 'audit'),
    signer: options.signer,
    noteSigner: options.noteSigner,
    cosigned: options.cosigned,
    origin: config.auditOrigin,
    threads: options.threads,
    onStorageError: options.onStorageError,
    checkpointIntervalMs: options.checkpointIntervalMs,
    onRecover: options.onRecover,
  });
}

const READINESS_PROBE_KEY = 'readiness/probe';
