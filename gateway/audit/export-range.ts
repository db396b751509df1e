// A regulator export, streamed: the journal's entries are read in order from near the first wanted
// one (from the file journal's file, or the shared journal's table: whatever `readEntries` is), and
// each selected entry goes out with an RFC 9162 inclusion proof against the first signed checkpoint
// that covers it. That checkpoint precedes the entry in the export, chained to the one
// before it by a consistency proof; the export ends with the newest checkpoint and a signed manifest
// over all preceding bytes. Because every entry carries its own proof, any selection verifies.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import canonicalize from 'canonicalize';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { GatewayError } from '../errors.js';
import type { AuditEntry } from './audit-entry.js';
import type { SignedCheckpoint } from './checkpoint.js';
import { EXPORT_FORMAT, EXPORT_MANIFEST_TYP, EXPORT_VERSION, type ExportHeader, type ExportManifest, type ExportSelection } from './export-format.js';
import { encodeHash, hashLeaf } from './merkle-hash.js';
import type { MerkleTree } from './merkle-tree.js';

export interface AuditExportQuery {
  /** First seq (inclusive). */
  readonly fromSeq?: number;
  /** Last seq (inclusive). */
  readonly toSeq?: number;
  /** Entries at or after this time. */
  readonly fromTime?: Date | string;
  /** Entries before this time. */
  readonly toTime?: Date | string;
  /** Keeps an entry when true: institution, category, direction… whatever the caller reads from the entry. */
  readonly filter?: (entry: AuditEntry) => boolean;
}

/** One stored entry: its seq and its canonical bytes (no newline). */
export interface StoredEntry {
  readonly seq: number;
  readonly bytes: Buffer;
}

/** Where the entries are read from, in seq order without gaps. */
export type EntrySource = (range: {
  /** The first entry wanted has seq ≥ fromSeq and time ≥ fromTime; reading may start earlier. */
  readonly fromSeq: number;
  readonly fromTime: string | undefined;
  /** Reading may stop after this seq. */
  readonly lastSeq: number;
}) => AsyncIterable<StoredEntry>;

/** The signed checkpoints, oldest first. */
export interface ExportCheckpoints {
  /** Index of the first checkpoint whose tree covers `seq` (treeSize > seq), or -1. */
  firstCovering(seq: number): number;
  read(index: number): Promise<SignedCheckpoint>;
}

/** A checkpoint of this log as a peer gateway's witness cosigned it: the signed note with its cosignature lines. */
export interface CosignedCheckpoint {
  /** The key name of the witness's cosignature lines. */
  readonly witness: string;
  readonly treeSize: number;
  readonly note: string;
}

export interface ExportContext {
  readonly origin: string;
  /** The newest checkpoints peers cosigned: an export carries them, joined to its own newest checkpoint by consistency proofs. */
  readonly cosigned?: () => Promise<readonly CosignedCheckpoint[]>;
  readonly signer: GatewaySigner;
  readonly now: () => string;
  /** Holds at least every entry of the checkpoint ensureCheckpoint resolves to. */
  readonly tree: MerkleTree;
  readonly readEntries: EntrySource;
  /** Where the entries are stored, for messages ("the journal file"). */
  readonly entriesStore: string;
  readonly checkpoints: ExportCheckpoints;
  /** Signs a checkpoint over every durable entry if needed; resolves to the latest. */
  readonly ensureCheckpoint: () => Promise<SignedCheckpoint | undefined>;
  /** The stored entries no longer match the tree: stop trusting them. */
  readonly reportCorruption: (reason: string) => void;
}

/** Reports entry `seq` as changed since the tree was built from it; the error to fail the export with. */
export function entryChanged(reportCorruption: ExportContext['reportCorruption'], seq: number, where: string, how = 'no longer matches its leaf hash'): GatewayError {
  const reason = `entry ${seq} in ${where} ${how} (changed since the journal opened)`;
  reportCorruption(reason);
  return new GatewayError('ERR_AUDIT_CORRUPT', reason, { seq });
}

function rangeError(message: string): never {
  throw new GatewayError('ERR_AUDIT_RANGE_INVALID', message);
}

function toIso(name: string, value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) rangeError(`${name} ${String(value)} is not a time`);
  return date.toISOString();
}

function checkQuery(query: AuditExportQuery): ExportSelection {
  for (const name of ['fromSeq', 'toSeq'] as const) {
    const value = query[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) rangeError(`${name} ${String(value)} is not a non-negative integer`);
  }
  if (query.fromSeq !== undefined && query.toSeq !== undefined && query.fromSeq > query.toSeq) rangeError(`fromSeq ${query.fromSeq} is after toSeq ${query.toSeq}`);
  if (query.filter !== undefined && typeof query.filter !== 'function') rangeError('filter is not a function');
  const fromTime = toIso('fromTime', query.fromTime);
  const toTime = toIso('toTime', query.toTime);
  return {
    ...(query.fromSeq === undefined ? {} : { fromSeq: query.fromSeq }),
    ...(query.toSeq === undefined ? {} : { toSeq: query.toSeq }),
    ...(fromTime === undefined ? {} : { fromTime }),
    ...(toTime === undefined ? {} : { toTime }),
    filtered: query.filter !== undefined,
  };
}

function checkpointLine(context: ExportContext, checkpoint: SignedCheckpoint, previous: SignedCheckpoint | undefined): string {
  const consistency = previous && { fromSize: previous.treeSize, proof: context.tree.consistencyProof(previous.treeSize, checkpoint.treeSize).map(encodeHash) };
  return canonicalize({ kind: 'checkpoint', jws: checkpoint.jws, ...(checkpoint.note === undefined ? {} : { note: checkpoint.note }), ...(consistency ? { consistency } : {}) }) as string;
}

async function* generateExport(context: ExportContext, selection: ExportSelection, filter: AuditExportQuery['filter']): AsyncGenerator<Buffer> {
  const head = await context.ensureCheckpoint();
  const digest = createHash('sha256');
  const counts = { lines: 0, entries: 0, checkpoints: 0 };
  const emit = (line: string): Buffer => {
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    digest.update(bytes);
    counts.lines += 1;
    return bytes;
  };
  const exportedAt = context.now();
  const header: ExportHeader = { kind: 'header', format: EXPORT_FORMAT, version: EXPORT_VERSION, origin: context.origin, exportedAt, selection };
  yield emit(canonicalize(header) as string);

  let emitted: { index: number; checkpoint: SignedCheckpoint } | undefined;
  if (head) {
    const fromSeq = selection.fromSeq ?? 0;
    const lastSeq = Math.min(selection.toSeq ?? Number.MAX_SAFE_INTEGER, head.treeSize - 1);
    if (fromSeq <= lastSeq) {
      for await (const { seq, bytes } of context.readEntries({ fromSeq, fromTime: selection.fromTime, lastSeq })) {
        if (seq > lastSeq) break;
        // The store must still hold the bytes the tree was built from (they are checked at open).
        if (!hashLeaf(bytes).equals(context.tree.leafHash(seq))) throw entryChanged(context.reportCorruption, seq, context.entriesStore);
        if (seq < fromSeq) continue;
        const text = bytes.toString('utf8');
        const entry = JSON.parse(text) as AuditEntry;
        if (selection.toTime !== undefined && entry.time >= selection.toTime) break; // times never decrease
        if ((selection.fromTime === undefined || entry.time >= selection.fromTime) && (!filter || filter(entry))) {
          const covering = context.checkpoints.firstCovering(seq);
          if (emitted?.index !== covering) {
            const checkpoint = await context.checkpoints.read(covering);
            yield emit(checkpointLine(context, checkpoint, emitted?.checkpoint));
            counts.checkpoints += 1;
            emitted = { index: covering, checkpoint };
          }
          const { treeSize } = emitted.checkpoint;
          const proof = JSON.stringify(context.tree.inclusionProof(seq, treeSize).map(encodeHash));
          // Keys in canonical order, the journal's canonical bytes embedded as they are.
          yield emit(`{"entry":${text},"kind":"entry","leafIndex":${seq},"proof":${proof},"treeSize":${treeSize}}`);
          counts.entries += 1;
        }
      }
    }
    if (emitted?.checkpoint.treeSize !== head.treeSize) {
      yield emit(checkpointLine(context, head, emitted?.checkpoint));
      counts.checkpoints += 1;
    }
    // What the peer gateways cosigned: a regulator checks this log was not shown to them otherwise.
    for (const cosigned of (await context.cosigned?.()) ?? []) {
      const [fromSize, toSize] = cosigned.treeSize <= head.treeSize ? [cosigned.treeSize, head.treeSize] : [head.treeSize, cosigned.treeSize];
      if (toSize > context.tree.size) continue; // cosigned beyond what this instance has read yet
      const proof = fromSize === 0 ? [] : context.tree.consistencyProof(fromSize, toSize).map(encodeHash);
      yield emit(canonicalize({ consistency: { fromSize, proof, toSize }, kind: 'cosignature', note: cosigned.note, witness: cosigned.witness }) as string);
    }
  }

  const manifest: ExportManifest = { format: EXPORT_FORMAT, version: EXPORT_VERSION, origin: context.origin, exportedAt, ...counts, sha256: digest.digest('hex') };
  const jws = await context.signer.sign(manifest, { typ: EXPORT_MANIFEST_TYP });
  yield Buffer.from(`${canonicalize({ jws, kind: 'manifest' })}\n`, 'utf8');
}

/**
 * The export stream for `query` (validated here, before anything is read).
 * @throws GatewayError `ERR_AUDIT_RANGE_INVALID`; the stream fails with `ERR_AUDIT_CORRUPT` if the entries changed underneath.
 */
export function exportAuditRange(context: ExportContext, query: AuditExportQuery): Readable {
  const selection = checkQuery(query);
  return Readable.from(generateExport(context, selection, query.filter), { objectMode: false });
}
