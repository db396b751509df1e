// The offline verifier of an audit export: what a regulator runs (through `hetao audit verify`) with
// nothing but the export and the gateway's public JWKS. Streams the export once, in constant memory,
// and stops at the first line that fails: every checkpoint signature (and signed note), the chain of
// consistency proofs between checkpoints, every entry's leaf hash and inclusion proof, the
// checkpoints peer gateways cosigned (the log's signature, a consistency proof to the export's newest
// checkpoint, and the cosignature of every witness whose key the regulator gives), and the signed
// manifest over all preceding bytes.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import canonicalize from 'canonicalize';
import { compactVerify, type JSONWebKeySet } from 'jose';
import { findJsonValueProblem } from '../input/json-bounds.js';
import { ACTOR_KINDS, type AuditActorKind } from './audit-entry.js';
import { createCheckpointKeys, verifyCheckpointJws, type CheckpointBody, type CheckpointKeys } from './checkpoint.js';
import { verifyCheckpointNote } from './checkpoint-note.js';
import { EXPORT_FORMAT, EXPORT_MANIFEST_TYP, EXPORT_VERSION } from './export-format.js';
import { decodeHash, hashLeaf } from './merkle-hash.js';
import { readLines } from './read-lines.js';
import { verifyConsistency, verifyInclusion } from './verify-proof.js';
import { verifyCosignature, type VerifierKey } from '../witness/cosignature.js';

export interface ExportVerification {
  readonly ok: boolean;
  /** Entries and checkpoints that verified before the first error (all of them when ok). */
  readonly entries: number;
  readonly checkpoints: number;
  /** The newest checkpoint of the export, when it verified. */
  readonly lastCheckpoint?: CheckpointBody;
  /** The cosigned checkpoints the export carries: whose, at which size, and whether its cosignature was checked (its key given). */
  readonly cosignatures: readonly { readonly witness: string; readonly treeSize: number; readonly verified: boolean }[];
  readonly firstError?: { readonly line: number; readonly seq?: number; readonly reason: string };
}

class ExportFailure extends Error {
  constructor(
    reason: string,
    readonly seq?: number,
  ) {
    super(reason);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function decodeProof(value: unknown, seq?: number): Buffer[] {
  if (!Array.isArray(value)) throw new ExportFailure('the proof is not an array', seq);
  const proof: Buffer[] = [];
  for (const item of value) {
    const hash = decodeHash(item);
    if (!hash) throw new ExportFailure('a proof hash is not base64 of 32 bytes', seq);
    proof.push(hash);
  }
  return proof;
}

interface State {
  readonly keys: CheckpointKeys;
  readonly jwks: JSONWebKeySet;
  origin?: string;
  checkpoint?: CheckpointBody;
  previousSize?: number;
  lastLeaf: number;
  lastTime?: string;
  entries: number;
  checkpoints: number;
  readonly witnesses: readonly VerifierKey[];
  cosignatures: { witness: string; treeSize: number; verified: boolean }[];
}

function checkHeader(line: Record<string, unknown>, state: State): void {
  if (line.kind !== 'header' || line.format !== EXPORT_FORMAT) throw new ExportFailure(`the first line is not a ${EXPORT_FORMAT} header`);
  if (line.version !== EXPORT_VERSION) throw new ExportFailure(`export version ${String(line.version)} is not supported (this verifier reads ${EXPORT_VERSION})`);
  if (typeof line.origin !== 'string') throw new ExportFailure('the header has no origin');
  state.origin = line.origin;
}

async function checkCheckpoint(line: Record<string, unknown>, state: State): Promise<void> {
  const body = await verifyCheckpointJws(String(line.jws), state.keys);
  if (typeof body === 'string') throw new ExportFailure(body);
  if (body.origin !== state.origin) throw new ExportFailure(`the checkpoint is for origin ${body.origin}, the export for ${String(state.origin)}`);
  if (line.note !== undefined) {
    const reason = typeof line.note === 'string' ? verifyCheckpointNote(line.note, body, state.jwks) : 'the note is not a string';
    if (reason !== undefined) throw new ExportFailure(reason);
  }
  const previous = state.checkpoint;
  if (!previous) {
    if (line.consistency !== undefined) throw new ExportFailure('the first checkpoint carries a consistency proof from nothing');
  } else {
    if (body.treeSize <= previous.treeSize) throw new ExportFailure(`the checkpoint for tree size ${body.treeSize} is not newer than the previous one (${previous.treeSize}): replayed`);
    if (body.time < previous.time) throw new ExportFailure(`the checkpoint time ${body.time} is before the previous checkpoint's ${previous.time}`);
    const consistency = line.consistency;
    if (!isObject(consistency) || consistency.fromSize !== previous.treeSize) throw new ExportFailure(`no consistency proof from the previous checkpoint (tree size ${previous.treeSize})`);
    const proof = decodeProof(consistency.proof);
    const fromRoot = decodeHash(previous.rootHash) as Buffer;
    const toRoot = decodeHash(body.rootHash) as Buffer;
    if (!verifyConsistency({ fromSize: previous.treeSize, toSize: body.treeSize, fromRoot, toRoot, proof })) {
      throw new ExportFailure(`the consistency proof from tree size ${previous.treeSize} to ${body.treeSize} does not verify: the log was rewritten`);
    }
  }
  state.previousSize = previous?.treeSize;
  state.checkpoint = body;
  state.checkpoints += 1;
}

/**
 * A checkpoint a peer's witness cosigned: the log's own signed note (with cosignature lines), joined to
 * the export's newest checkpoint by a consistency proof; the cosignature of a witness whose key was
 * given must verify.
 */
function checkCosignature(line: Record<string, unknown>, state: State): void {
  const head = state.checkpoint;
  if (!head) throw new ExportFailure('a cosignature before any checkpoint');
  if (typeof line.note !== 'string' || typeof line.witness !== 'string') throw new ExportFailure('the cosignature line lacks its note or witness');
  const split = line.note.lastIndexOf('\n\n');
  const [origin, size, rootHash] = (split < 0 ? '' : line.note.slice(0, split)).split('\n');
  const treeSize = Number(size);
  if (origin === undefined || origin !== state.origin || !Number.isSafeInteger(treeSize) || treeSize < 0 || rootHash === undefined) throw new ExportFailure('the cosigned note is not a checkpoint of this log');
  const reason = verifyCheckpointNote(line.note, { origin, treeSize, rootHash }, state.jwks);
  if (reason !== undefined) throw new ExportFailure(`the cosigned checkpoint: ${reason}`);
  const consistency = line.consistency;
  const [fromSize, toSize] = treeSize <= head.treeSize ? [treeSize, head.treeSize] : [head.treeSize, treeSize];
  if (!isObject(consistency) || consistency.fromSize !== fromSize || consistency.toSize !== toSize) throw new ExportFailure(`no consistency proof between the cosigned checkpoint (${treeSize}) and the export's (${head.treeSize})`);
  const [fromRoot, toRoot] = treeSize <= head.treeSize ? [rootHash, head.rootHash] : [head.rootHash, rootHash];
  const decodedFrom = decodeHash(fromRoot);
  const decodedTo = decodeHash(toRoot);
  if (!decodedFrom || !decodedTo) throw new ExportFailure('a cosigned root is not base64 of 32 bytes');
  if (!(fromSize === 0 || verifyConsistency({ fromSize, toSize, fromRoot: decodedFrom, toRoot: decodedTo, proof: decodeProof(consistency.proof) }))) {
    throw new ExportFailure(`the checkpoint ${line.witness} cosigned (${treeSize}) is not consistent with the export's (${head.treeSize}): two histories were shown`);
  }
  const key = state.witnesses.find((witness) => witness.name === line.witness);
  if (key) {
    const text = line.note.slice(0, split + 1);
    const verified = line.note
      .slice(split + 2)
      .split('\n')
      .some((signature) => signature.startsWith(`— ${key.name} `) && typeof verifyCosignature(signature, text, { name: key.name, publicKey: key.publicKey }) !== 'string');
    if (!verified) throw new ExportFailure(`no cosignature of ${key.name} on the checkpoint of size ${treeSize} verifies with the key given`);
  }
  state.cosignatures.push({ witness: line.witness, treeSize, verified: key !== undefined });
}

function checkEntry(line: Record<string, unknown>, state: State): void {
  const entry = line.entry;
  const seq = isObject(entry) && Number.isSafeInteger(entry.seq) ? (entry.seq as number) : undefined;
  const fail = (reason: string): never => {
    throw new ExportFailure(reason, seq);
  };
  if (!isObject(entry) || seq === undefined || typeof entry.time !== 'string' || typeof entry.type !== 'string') return fail('the entry lacks seq, time or type');
  const actor = entry.actor;
  if (!isObject(actor) || !ACTOR_KINDS.includes(actor.kind as AuditActorKind) || typeof actor.id !== 'string') return fail('the entry actor is not { kind, id }');
  const checkpoint = state.checkpoint;
  if (!checkpoint) return fail('an entry before any checkpoint');
  if (line.leafIndex !== seq) return fail(`leafIndex ${String(line.leafIndex)} is not the entry's seq ${seq}`);
  if (line.treeSize !== checkpoint.treeSize) return fail(`the entry names tree size ${String(line.treeSize)}, the checkpoint before it is for ${checkpoint.treeSize}`);
  if (seq <= state.lastLeaf) return fail(`seq ${seq} does not follow seq ${state.lastLeaf}: entries reordered or repeated`);
  if (seq >= checkpoint.treeSize) return fail(`seq ${seq} is not covered by the checkpoint for tree size ${checkpoint.treeSize}: an older checkpoint replayed?`);
  if (state.previousSize !== undefined && seq < state.previousSize) return fail(`seq ${seq} was already covered by the previous checkpoint (tree size ${state.previousSize})`);
  if (entry.time > checkpoint.time) return fail(`the entry's time ${entry.time} is after its checkpoint's ${checkpoint.time}: an older checkpoint replayed?`);
  if (state.lastTime !== undefined && entry.time < state.lastTime) return fail(`the entry's time ${entry.time} is before the previous entry's ${state.lastTime}`);
  // The reference canonicaliser recurses and throws bare Errors: give it only what JSON can carry.
  const unfit = findJsonValueProblem(entry);
  if (unfit) return fail(`the entry cannot be canonicalized: ${unfit.path} ${unfit.message}`);
  let canonical: string | undefined;
  try {
    canonical = canonicalize(entry);
  } catch (error) {
    return fail(`the entry cannot be canonicalized: ${(error as Error).message}`);
  }
  const leafHash = hashLeaf(Buffer.from(canonical ?? '', 'utf8'));
  const proof = decodeProof(line.proof, seq);
  if (!verifyInclusion({ leafIndex: seq, treeSize: checkpoint.treeSize, leafHash, proof, rootHash: decodeHash(checkpoint.rootHash) as Buffer })) {
    return fail(`the entry's inclusion proof does not verify against the checkpoint for tree size ${checkpoint.treeSize}: the entry was changed`);
  }
  state.lastLeaf = seq;
  state.lastTime = entry.time;
  state.entries += 1;
}

async function checkManifest(line: Record<string, unknown>, state: State, lines: number, sha256: string): Promise<void> {
  let payload: Record<string, unknown>;
  try {
    const verified = await compactVerify(String(line.jws), state.keys, { algorithms: ['EdDSA'] });
    if (verified.protectedHeader.typ !== EXPORT_MANIFEST_TYP) throw new Error(`typ ${String(verified.protectedHeader.typ)}`);
    payload = JSON.parse(Buffer.from(verified.payload).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ExportFailure(`the manifest signature does not verify (${(error as Error).message})`);
  }
  if (payload.format !== EXPORT_FORMAT || payload.origin !== state.origin) throw new ExportFailure('the manifest is for another format or origin');
  if (payload.sha256 !== sha256 || payload.lines !== lines) {
    throw new ExportFailure(`the manifest signs ${String(payload.lines)} lines with SHA-256 ${String(payload.sha256)}; the export has ${lines} lines with ${sha256}: lines were changed, added or removed`);
  }
  if (payload.entries !== state.entries || payload.checkpoints !== state.checkpoints) throw new ExportFailure('the manifest counts differ from the export');
}

/**
 * Verifies an export read from `source` against `jwks` (the gateway's public keys, current and
 * previous). Never throws for a bad export: the answer says where it first failed.
 */
export async function verifyExport(source: Readable | AsyncIterable<Buffer>, jwks: JSONWebKeySet, options: { readonly witnesses?: readonly VerifierKey[] } = {}): Promise<ExportVerification> {
  const witnesses = options.witnesses ?? [];
  const state: State = { keys: createCheckpointKeys(jwks), jwks, lastLeaf: -1, entries: 0, checkpoints: 0, witnesses, cosignatures: [] };
  const digest = createHash('sha256');
  let lineNumber = 0;
  let manifestSeen = false;
  const result = (firstError?: ExportVerification['firstError']): ExportVerification => ({
    ok: firstError === undefined,
    entries: state.entries,
    checkpoints: state.checkpoints,
    ...(state.checkpoint ? { lastCheckpoint: state.checkpoint } : {}),
    cosignatures: state.cosignatures,
    ...(firstError ? { firstError } : {}),
  });
  try {
    for await (const { bytes, terminated } of readLines(source)) {
      lineNumber += 1;
      if (manifestSeen) throw new ExportFailure('data after the manifest');
      if (!terminated) throw new ExportFailure('the export ends inside a line (truncated)');
      let line: unknown;
      try {
        line = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new ExportFailure('the line is not JSON');
      }
      if (!isObject(line)) throw new ExportFailure('the line is not a JSON object');
      if (lineNumber === 1) checkHeader(line, state);
      else if (line.kind === 'checkpoint') await checkCheckpoint(line, state);
      else if (line.kind === 'entry') checkEntry(line, state);
      else if (line.kind === 'cosignature') checkCosignature(line, state);
      else if (line.kind === 'manifest') {
        await checkManifest(line, state, lineNumber - 1, digest.copy().digest('hex'));
        manifestSeen = true;
      } else throw new ExportFailure(`unknown line kind ${JSON.stringify(line.kind)}`);
      if (!manifestSeen) digest.update(bytes).update('\n');
    }
  } catch (error) {
    if (error instanceof ExportFailure) return result({ line: lineNumber, ...(error.seq === undefined ? {} : { seq: error.seq }), reason: error.message });
    return result({ line: lineNumber, reason: `the export cannot be read: ${(error as Error).message}` });
  } finally {
    if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
  }
  if (lineNumber === 0) return result({ line: 1, reason: 'the export is empty' });
  if (!manifestSeen) return result({ line: lineNumber + 1, reason: 'the export ends without its signed manifest (truncated)' });
  // A witness whose key the regulator gave must have cosigned: its absence is what a hidden history looks like.
  for (const witness of witnesses) {
    if (!state.cosignatures.some((cosigned) => cosigned.witness === witness.name && cosigned.verified)) return result({ line: lineNumber, reason: `the export carries no checkpoint cosigned by ${witness.name}` });
  }
  return result();
}
