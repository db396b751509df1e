// What one audit journal entry is, and how it becomes the bytes the Merkle tree hashes: the RFC 8785
// canonical JSON of `{ seq, time, type, actor, subject?, hashes?, details? }`. Entries record who did
// what to which transfer, with digests; never a data key or dataset content (the checks below keep
// `hashes` to hex digests and a whole entry under 8 KiB).
import { GatewayError } from '../errors.js';
import { toCanonicalJson } from './canonical-json.js';
import { scanCanonicalEntry } from './scan-canonical-entry.js';

export type AuditActorKind = 'institution' | 'person' | 'gateway';

export interface AuditActor {
  readonly kind: AuditActorKind;
  readonly id: string;
}

/** Digests (lowercase hex SHA-256) of what the event concerns. */
export interface AuditHashes {
  readonly manifest?: string;
  readonly plaintext?: string;
  readonly envelope?: string;
}

/** What a caller appends; the journal adds `seq` and `time`. */
export interface AuditEvent {
  /** Dotted lowercase name, e.g. `transfer.created`, `policy.reloaded`. */
  readonly type: string;
  readonly actor: AuditActor;
  /** The transfer id the event is about, if any. */
  readonly subject?: string;
  readonly hashes?: AuditHashes;
  /** Small JSON object (the whole entry is at most {@link MAX_ENTRY_BYTES}): states, reasons, decision ids. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditEntry extends AuditEvent {
  /** 0-based, contiguous; equal to the entry's leaf index in the Merkle tree. */
  readonly seq: number;
  /** ISO 8601 UTC with milliseconds (`Date.prototype.toISOString`); never decreases along the journal. */
  readonly time: string;
}

export const ACTOR_KINDS: readonly AuditActorKind[] = ['institution', 'person', 'gateway'];
/** Canonical bytes of one entry, at most: room for facts, none for content. */
export const MAX_ENTRY_BYTES = 8192;
const TYPE = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** In canonical (sorted) order. */
const HASH_KINDS = ['envelope', 'manifest', 'plaintext'];

const EVENT_MEMBERS = new Set(['type', 'actor', 'subject', 'hashes', 'details']);

function invalid(message: string): never {
  throw new GatewayError('ERR_AUDIT_EVENT_INVALID', message);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

function checkEvent(event: AuditEvent): void {
  if (!isPlainObject(event)) invalid('an audit event is a plain object');
  for (const key in event) if (!EVENT_MEMBERS.has(key)) invalid(`unknown audit event member "${key}"`);
  if (typeof event.type !== 'string' || event.type.length > 100 || !TYPE.test(event.type)) invalid(`event type ${JSON.stringify(event.type)} is not a dotted lowercase name`);
  const actor = event.actor as unknown;
  if (!isPlainObject(actor) || Object.keys(actor).some((key) => key !== 'kind' && key !== 'id')) invalid('actor must be { kind, id }');
  if (!ACTOR_KINDS.includes(actor.kind as AuditActorKind)) invalid(`actor.kind ${JSON.stringify(actor.kind)} is not one of ${ACTOR_KINDS.join(', ')}`);
  if (typeof actor.id !== 'string' || actor.id === '' || actor.id.length > 200) invalid('actor.id must be a non-empty string');
  if (event.subject !== undefined && (typeof event.subject !== 'string' || event.subject === '' || event.subject.length > 200)) invalid('subject must be a non-empty transfer id');
  if (event.hashes !== undefined) {
    if (!isPlainObject(event.hashes)) invalid('hashes must be an object');
    for (const [kind, value] of Object.entries(event.hashes)) {
      if (!HASH_KINDS.includes(kind)) invalid(`hashes.${kind} is not one of ${HASH_KINDS.join(', ')}`);
      if (value === undefined) continue;
      if (typeof value !== 'string' || !HEX_SHA256.test(value)) invalid(`hashes.${kind} is not a lowercase hex SHA-256`);
    }
  }
  if (event.details !== undefined && !isPlainObject(event.details)) invalid('details must be a plain object');
}

/**
 * The canonical bytes of an entry (no trailing newline). The same scan the startup check runs is
 * applied to the result, so whatever is written will also be read back.
 * @throws GatewayError `ERR_AUDIT_EVENT_INVALID` when the event breaks the shape above, holds values
 *   JSON cannot carry canonically (NaN, lone surrogates, nesting over 32), or is over {@link MAX_ENTRY_BYTES}.
 */
export function encodeAuditEntry(seq: number, time: string, event: AuditEvent): Buffer {
  checkEvent(event);
  let json: string;
  try {
    json = joinEntryParts(serializeEntryParts(event), seq, time);
  } catch (error) {
    invalid(`the event is not canonical JSON: ${(error as Error).message}`);
  }
  const bytes = Buffer.from(json, 'utf8');
  checkEncoded(bytes);
  return bytes;
}

/**
 * An entry's canonical text around its seq and time: the entry is `head ‖ seq ‖ middle ‖ time ‖ tail`
 * (seq in decimal, time as ISO 8601 without quotes). For a store that learns seq and time only as it
 * sequences the entry: the shared journal has the database put them in.
 */
export interface AuditEntryParts {
  readonly head: string;
  readonly middle: string;
  readonly tail: string;
}

/** The longest decimal seq (Number.MAX_SAFE_INTEGER) and a time: what encodeAuditEntryParts checks the size with. */
const LONGEST_SEQ = Number.MAX_SAFE_INTEGER;
const ANY_TIME = '2000-01-01T00:00:00.000Z';

/**
 * The parts of the entry `event` becomes, once checked as encodeAuditEntry checks it. The size limit is
 * held with the longest possible seq, so any seq fits: an entry within 15 bytes of the limit that the
 * file journal (which knows its seq) would keep is refused here.
 * @throws GatewayError `ERR_AUDIT_EVENT_INVALID`, as encodeAuditEntry.
 */
export function encodeAuditEntryParts(event: AuditEvent): AuditEntryParts {
  checkEvent(event);
  let parts: AuditEntryParts;
  try {
    parts = serializeEntryParts(event);
  } catch (error) {
    invalid(`the event is not canonical JSON: ${(error as Error).message}`);
  }
  checkEncoded(Buffer.from(joinEntryParts(parts, LONGEST_SEQ, ANY_TIME), 'utf8'));
  return parts;
}

/** The entry text of `parts` with its seq and time. */
export function joinEntryParts(parts: AuditEntryParts, seq: number, time: string): string {
  return `${parts.head}${seq}${parts.middle}${time}${parts.tail}`;
}

function checkEncoded(bytes: Buffer): void {
  if (bytes.length > MAX_ENTRY_BYTES) invalid(`the entry has ${bytes.length} bytes, more than ${MAX_ENTRY_BYTES}: the journal records facts, not content`);
  const scanned = scanCanonicalEntry(bytes, 0, bytes.length);
  if (typeof scanned === 'string') invalid(`the entry is not canonical: ${scanned}`);
}

/**
 * RFC 8785 text of a checked event around seq and time, members written in their canonical order by
 * hand (only `details` needs the general serializer): a third of the cost of serialising the whole object.
 */
function serializeEntryParts(event: AuditEvent): AuditEntryParts {
  const { actor, details, hashes, subject } = event;
  let head = `{"actor":{"id":${JSON.stringify(actor.id)},"kind":"${actor.kind}"}`;
  if (details !== undefined) head += `,"details":${toCanonicalJson(details) ?? '{}'}`;
  if (hashes !== undefined) {
    const members = HASH_KINDS.filter((kind) => hashes[kind as keyof AuditHashes] !== undefined).map((kind) => `"${kind}":"${hashes[kind as keyof AuditHashes] as string}"`);
    head += `,"hashes":{${members.join(',')}}`;
  }
  const middle = `${subject === undefined ? '' : `,"subject":${JSON.stringify(subject)}`},"time":"`;
  return { head: `${head},"seq":`, middle, tail: `","type":${JSON.stringify(event.type)}}` };
}

/** Parses a canonical entry line (already checked by the scan or by a hash). */
export function decodeAuditEntry(bytes: Uint8Array | string): AuditEntry {
  return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8')) as AuditEntry;
}
