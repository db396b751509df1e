// The witness side of C2SP tlog-witness v1.0.0, add-checkpoint, without HTTP: a log's client submits
//
//   old <size>\n<0–63 base64 consistency-proof lines>\n<signed checkpoint note>
//
// (an empty line between the proof and the note) and gets this witness's cosignature of the
// checkpoint if and only if it is signed by the key trusted for its origin and extends, by the proof,
// the checkpoint this witness last cosigned for that origin. Each refusal is a GatewayError whose
// status is the one the spec prescribes; the HTTP layer answers a 409 with `<size>\n` as
// `text/x.tlog.size` (TLOG_SIZE_MEDIA_TYPE). The new size is stored, by compare-and-store, before the
// cosignature is returned: a cosignature never exists for a checkpoint the state could still roll back.
import type { KeyObject } from 'node:crypto';
import { EMPTY_ROOT, decodeHash, encodeHash } from '../audit/merkle-hash.js';
import { verifyConsistency } from '../audit/verify-proof.js';
import { GatewayError } from '../errors.js';
import type { Cosigner } from './cosignature.js';
import { checkNoteSignature, parseCheckpointText, parseSignedNote, parseSize } from './signed-note.js';
import type { WitnessState } from './witness-state.js';

/** The media type of a 409 answer's body, `<size>\n`. */
export const TLOG_SIZE_MEDIA_TYPE = 'text/x.tlog.size';

/** At most 63 hashes: a consistency proof of a tree of up to 2^63 leaves. */
const MAX_PROOF_LINES = 63;

/** The note key a log signs its checkpoints with (C2SP signed-note, Ed25519, type 0x01). */
export interface TrustedLogKey {
  readonly name: string;
  readonly publicKey: KeyObject;
}

/** A log contradicting a checkpoint this witness cosigned, as evidence for the operators. */
export interface WitnessConflict {
  readonly origin: string;
  /** `split-view`: a second root for a size already cosigned; `inconsistent`: no proof joins the two checkpoints. */
  readonly kind: 'split-view' | 'inconsistent';
  /** The size of the checkpoint presented. */
  readonly treeSize: number;
  readonly knownSize: number;
  /** Base64 roots. */
  readonly knownRoot: string;
  readonly presentedRoot: string;
}

export interface TlogWitnessOptions {
  readonly state: WitnessState;
  /** The note key trusted for an origin, or undefined for a log this witness does not witness. */
  readonly trustedLogs: (origin: string) => TrustedLogKey | undefined;
  readonly cosigner: Cosigner;
  readonly clock: () => Date;
  /**
   * Told when a submission contradicts what this witness cosigned (the answer is a 422 either way; a
   * listener that throws does not change it). `inconsistent` is a suspicion, not proof: the
   * consistency proof comes from the submitter, who may have sent a wrong one.
   */
  readonly onConflict?: (event: WitnessConflict) => void;
}

export interface TlogWitness {
  /**
   * Handles one add-checkpoint body; resolves to the cosignature lines (with their newlines).
   * @throws GatewayError `ERR_WITNESS_REQUEST_INVALID` (400) for a malformed body or an old size above
   *   the checkpoint's; `ERR_WITNESS_LOG_UNKNOWN` (404) for an origin not witnessed here;
   *   `ERR_WITNESS_SIGNATURE_INVALID` (403) when no signature of the trusted key verifies, or one fails;
   *   `ERR_WITNESS_SIZE_CONFLICT` (409, `details.treeSize` the size cosigned last) when the old size is
   *   not that size, or a racing submission moved it; `ERR_WITNESS_INCONSISTENT` (422) when the
   *   checkpoint cannot extend the one cosigned last; state errors as they come.
   */
  addCheckpoint(body: string): Promise<{ readonly cosignatures: string }>;
}

interface AddCheckpointRequest {
  readonly oldSize: number;
  readonly proof: readonly Buffer[];
  readonly note: string;
}

const invalid = (message: string): GatewayError => new GatewayError('ERR_WITNESS_REQUEST_INVALID', message);

function parseRequest(body: string): AddCheckpointRequest {
  const firstEnd = body.indexOf('\n');
  const oldLine = firstEnd < 0 ? body : body.slice(0, firstEnd);
  const oldSize = oldLine.startsWith('old ') ? parseSize(oldLine.slice('old '.length)) : undefined;
  if (firstEnd < 0 || oldSize === undefined) throw invalid('the body does not start with "old <size>\\n", the size in decimal without leading zeros');
  const proof: Buffer[] = [];
  let at = firstEnd + 1;
  for (;;) {
    const end = body.indexOf('\n', at);
    if (end < 0) throw invalid('the body has no empty line between the consistency proof and the checkpoint');
    const line = body.slice(at, end);
    at = end + 1;
    if (line === '') break;
    const hash = decodeHash(line);
    if (!hash) throw invalid(`consistency proof line ${proof.length + 1} is not a base64 SHA-256 hash`);
    if (proof.length === MAX_PROOF_LINES) throw invalid(`the consistency proof has more than ${MAX_PROOF_LINES} lines`);
    proof.push(hash);
  }
  return { oldSize, proof, note: body.slice(at) };
}

/**
 * A witness over `options.state`, cosigning with `options.cosigner`.
 * Refusals are thrown by addCheckpoint (see TlogWitness).
 */
export function createTlogWitness(options: TlogWitnessOptions): TlogWitness {
  const { state, trustedLogs, cosigner, clock, onConflict } = options;

  const inconsistent = (message: string, conflict?: WitnessConflict): GatewayError => {
    if (conflict) {
      try {
        onConflict?.(conflict);
      } catch {
        // The submitter's answer does not depend on the operators' listener.
      }
    }
    return new GatewayError('ERR_WITNESS_INCONSISTENT', message, conflict ? { kind: conflict.kind } : undefined);
  };

  return {
    async addCheckpoint(body) {
      const { oldSize, proof, note } = parseRequest(body);
      const signed = parseSignedNote(note);
      if (typeof signed === 'string') throw invalid(signed);
      const checkpoint = parseCheckpointText(signed.text);
      if (typeof checkpoint === 'string') throw invalid(checkpoint);
      const { origin, treeSize, rootHash } = checkpoint;

      const logKey = trustedLogs(origin);
      if (!logKey) throw new GatewayError('ERR_WITNESS_LOG_UNKNOWN', `this witness does not witness the log ${JSON.stringify(origin)}`);
      if (logKey.publicKey.asymmetricKeyType !== 'ed25519') throw new GatewayError('ERR_WITNESS_KEY_INVALID', `the key trusted for ${JSON.stringify(origin)} is not an Ed25519 public key`);
      const signature = checkNoteSignature(signed, logKey);
      if (signature === 'absent') throw new GatewayError('ERR_WITNESS_SIGNATURE_INVALID', `no signature on the checkpoint is from the key of ${JSON.stringify(logKey.name)} trusted for this log`);
      if (signature === 'failed') throw new GatewayError('ERR_WITNESS_SIGNATURE_INVALID', `the checkpoint signature of ${JSON.stringify(logKey.name)} does not verify`);

      if (oldSize > treeSize) throw invalid(`the old size ${oldSize} is above the checkpoint size ${treeSize}`);
      const known = await state.get(origin);
      const knownSize = known?.treeSize ?? 0;
      if (oldSize !== knownSize) throw new GatewayError('ERR_WITNESS_SIZE_CONFLICT', `the last checkpoint cosigned for this log has size ${knownSize}, not ${oldSize}`, { treeSize: knownSize });

      const presentedRoot = encodeHash(rootHash);
      if (treeSize === 0 && !rootHash.equals(EMPTY_ROOT)) throw inconsistent('a checkpoint of size 0 must carry the root of the empty tree');
      if (oldSize === 0) {
        if (proof.length > 0) throw inconsistent('a consistency proof from size 0 must be empty');
      } else {
        const knownRoot = decodeHash(known?.rootHash);
        if (!known || !knownRoot) throw new GatewayError('ERR_INTERNAL', `the witness state holds no readable root for ${JSON.stringify(origin)} at size ${knownSize}`);
        const conflict = { origin, treeSize, knownSize, knownRoot: known.rootHash, presentedRoot };
        if (treeSize === oldSize && !rootHash.equals(knownRoot)) throw inconsistent(`the log presents a second root for size ${treeSize}, which this witness cosigned with another`, { ...conflict, kind: 'split-view' });
        if (treeSize === oldSize && proof.length > 0) throw inconsistent('a consistency proof between equal sizes must be empty');
        if (!verifyConsistency({ fromSize: oldSize, toSize: treeSize, fromRoot: knownRoot, toRoot: rootHash, proof })) {
          throw inconsistent(`the consistency proof from size ${oldSize} to ${treeSize} does not verify against the checkpoint cosigned last`, { ...conflict, kind: 'inconsistent' });
        }
      }

      const now = clock();
      const timeSeconds = Math.floor(now.getTime() / 1000);
      if (!(timeSeconds > 0)) throw new GatewayError('ERR_INTERNAL', `the witness clock reads ${now.toISOString()}, no time to cosign at`);
      const stored = await state.compareAndStore(origin, oldSize, { origin, treeSize, rootHash: presentedRoot, checkpoint: note, cosignedAt: now.toISOString() });
      if (!stored.stored) {
        throw new GatewayError('ERR_WITNESS_SIZE_CONFLICT', `another submission moved the last cosigned size of this log to ${stored.currentSize}`, { treeSize: stored.currentSize });
      }
      return { cosignatures: cosigner.cosign(signed.text, timeSeconds) };
    },
  };
}
