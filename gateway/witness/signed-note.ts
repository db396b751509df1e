// C2SP signed notes (signed-note v1.0.0) and the checkpoint text they carry (tlog-checkpoint v1.0.0),
// read strictly: what a witness cosigns must be exactly what the log signed, so anything the specs do
// not allow is refused rather than repaired. Also the key ID every C2SP key type shares:
// SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4].
import { createHash, verify, type KeyObject } from 'node:crypto';
import { decodeBase64, decodeHash } from '../audit/merkle-hash.js';

/** A note's Ed25519 signature (a log's checkpoint signature). */
export const NOTE_ED25519_TYPE = 0x01;
/** Key IDs are the first four bytes of their hash. */
export const KEY_ID_BYTES = 4;
/**
 * Signature lines a note may carry here. The spec asks verifiers to accept at least 16; a bound keeps
 * a body of a million copies of one line from costing a million verifications.
 */
const MAX_SIGNATURES = 100;

export interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  /** What follows the key ID: the signature proper (for a cosignature, time ‖ signature). */
  readonly signature: Buffer;
}

export interface SignedNote {
  /** The signed text, with its final newline. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

export interface CheckpointText {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Buffer;
  /** Optional lines after the root, in order (signed, and cosigned, with the rest). */
  readonly extensions: readonly string[];
}

/** SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, type])).update(publicKey).digest().subarray(0, KEY_ID_BYTES);
}

/** Key names: non-empty, no spaces, no '+' (the vkey separator). */
export function isKeyName(name: string): boolean {
  return name !== '' && !/[\s+]/u.test(name) && !/\p{Cc}/u.test(name);
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawEd25519PublicKey(key: KeyObject): Buffer {
  return Buffer.from(String(key.export({ format: 'jwk' }).x ?? ''), 'base64url');
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** A decimal size without leading zeros that JavaScript holds exactly, else undefined. */
export function parseSize(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const size = Number(text);
  return Number.isSafeInteger(size) ? size : undefined;
}

/**
 * Splits a signed note into its text and signature lines: the text ends at the last empty line, each
 * signature line is `— <name> <base64(key ID ‖ signature)>`. Returns the reason when it is not a note.
 */
export function parseSignedNote(note: string): SignedNote | string {
  // A lone surrogate has no UTF-8 form: the text signed cannot have held one.
  if (/\p{Cs}/u.test(note)) return 'the note is not valid Unicode';
  // Every control character but the newline is refused, tabs and carriage returns included.
  if (/[^\P{Cc}\n]/u.test(note)) return 'the note holds a control character other than a newline';
  if (!note.endsWith('\n')) return 'the note does not end with a newline';
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return 'the note has no empty line before its signatures';
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split('\n');
  lines.pop(); // the empty string after the final newline
  if (lines.length === 0) return 'the note has no signature lines';
  if (lines.length > MAX_SIGNATURES) return `the note has more than ${MAX_SIGNATURES} signature lines`;
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    const parts = line.startsWith('— ') ? line.slice(2).split(' ') : [];
    const [name, encoded] = parts;
    const blob = parts.length === 2 ? decodeBase64(encoded) : undefined;
    if (name === undefined || !isKeyName(name) || !blob || blob.length <= KEY_ID_BYTES) return `malformed signature line ${JSON.stringify(line)}`;
    signatures.push({ name, keyId: blob.subarray(0, KEY_ID_BYTES), signature: blob.subarray(KEY_ID_BYTES) });
  }
  return { text, signatures };
}

/** Reads a note text as a checkpoint: origin, tree size, base64 root, optional extension lines. */
export function parseCheckpointText(text: string): CheckpointText | string {
  const lines = text.split('\n');
  if (lines.pop() !== '') return 'the checkpoint text does not end with a newline';
  const [origin, size, root, ...extensions] = lines;
  if (origin === undefined || origin === '') return 'the checkpoint has no origin line';
  const treeSize = size === undefined ? undefined : parseSize(size);
  if (treeSize === undefined) return 'the checkpoint size is not a decimal number without leading zeros';
  const rootHash = decodeHash(root);
  if (!rootHash) return 'the checkpoint root is not a base64 SHA-256 hash';
  if (extensions.some((line) => line === '')) return 'the checkpoint has an empty extension line';
  return { origin, treeSize, rootHash, extensions };
}

/**
 * What the note's signatures say of one trusted Ed25519 note key: `verified` when a line with its name
 * and key ID verifies and none fails, `failed` when one such line fails (the spec's SHOULD reject),
 * `absent` when no line is from it (the spec's MUST reject). Lines of other keys are ignored.
 */
export function checkNoteSignature(note: SignedNote, key: { readonly name: string; readonly publicKey: KeyObject }): 'verified' | 'failed' | 'absent' {
  const id = noteKeyId(key.name, NOTE_ED25519_TYPE, rawEd25519PublicKey(key.publicKey));
  const message = Buffer.from(note.text, 'utf8');
  let outcome: 'verified' | 'absent' = 'absent';
  for (const signature of note.signatures) {
    if (signature.name !== key.name || !signature.keyId.equals(id)) continue;
    if (!verify(null, message, key.publicKey, signature.signature)) return 'failed';
    outcome = 'verified';
  }
  return outcome;
}
