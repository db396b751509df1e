// A byte-level check that one journal line is RFC 8785 canonical JSON and a well-formed entry, run on
// every line at startup and on every entry before it is written. Parsing and re-serialising a line
// costs ~15 µs; this scan costs a fraction of that and pulls out the members the journal needs (seq,
// time, subject) on the way. Canonical means: no whitespace; object members sorted by their UTF-16
// code units, no duplicates; strings escape exactly `"` `\` \b \f \n \r \t and other controls as
// \u00xx (lowercase hex), nothing else (so no lone surrogates); numbers in ECMAScript shortest form;
// valid UTF-8.
import { isUtf8 } from 'node:buffer';

export interface ScannedEntry {
  readonly seq: number;
  readonly time: string;
  readonly subject: string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 32;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// Top-level member names the scan reads, as bytes.
const SEQ = [0x73, 0x65, 0x71];
const TIME = [0x74, 0x69, 0x6d, 0x65];
const TYPE = [0x74, 0x79, 0x70, 0x65];
const ACTOR = [0x61, 0x63, 0x74, 0x6f, 0x72];
const SUBJECT = [0x73, 0x75, 0x62, 0x6a, 0x65, 0x63, 0x74];

class NotCanonical extends Error {}

const NOTHING = Buffer.alloc(0);
/** 1 for the bytes a string cannot simply contain — controls, `"`, `\` and non-ASCII — else 0: one load per byte. */
const SPECIAL_IN_STRING = Uint8Array.from({ length: 256 }, (_, b) => (b < 0x20 || b === QUOTE || b === BACKSLASH || b >= 0x80 ? 1 : 0));

// Scanner state (the scan is synchronous and not re-entrant).
let buf: Buffer = NOTHING;
let pos = 0;
let end = 0;
/** Whether the string just scanned was pure ASCII without escapes. */
let plain = true;
let seq = -1;
let time: string | undefined;
let subject: string | undefined;
let hasType = false;
let hasActor = false;

function fail(reason: string): never {
  throw new NotCanonical(reason);
}

function nameIs(start: number, name: readonly number[]): boolean {
  for (let i = 0; i < name.length; i += 1) if (buf[start + i] !== name[i]) return false;
  return true;
}

const OTHER = 0;
const M_SEQ = 1;
const M_TIME = 2;
const M_TYPE = 3;
const M_ACTOR = 4;
const M_SUBJECT = 5;

/** Which of the top-level members the scan reads the plain name buf[start, stop) is (by length, then bytes). */
function topMember(start: number, stop: number): number {
  switch (stop - start) {
    case 3:
      return nameIs(start, SEQ) ? M_SEQ : OTHER;
    case 4:
      return nameIs(start, TIME) ? M_TIME : nameIs(start, TYPE) ? M_TYPE : OTHER;
    case 5:
      return nameIs(start, ACTOR) ? M_ACTOR : OTHER;
    case 7:
      return nameIs(start, SUBJECT) ? M_SUBJECT : OTHER;
    default:
      return OTHER;
  }
}

/**
 * Scans a string at its opening quote; leaves pos after the closing quote, returns the content start.
 * The hottest loop of the start-up check: one table load per byte, on locals (the module state is
 * read once and written once).
 */
function scanString(): number {
  const bytes = buf;
  const stop = end;
  let at = pos;
  if (bytes[at] !== QUOTE) fail(`expected a string at byte ${at}`);
  const start = ++at;
  let isPlain = true;
  for (;;) {
    while (at < stop && SPECIAL_IN_STRING[bytes[at] as number] === 0) at += 1;
    if (at >= stop) break;
    const b = bytes[at] as number;
    if (b === QUOTE) {
      pos = at + 1;
      plain = isPlain;
      return start;
    }
    if (b === BACKSLASH) {
      isPlain = false;
      const e = bytes[at + 1];
      // " \ b f n r t
      if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        at += 2;
        continue;
      }
      const hex = e === 0x75 ? bytes.toString('latin1', at + 2, at + 6) : '';
      const code = /^00[01][0-9a-f]$/.test(hex) ? parseInt(hex, 16) : -1;
      // Controls with a short form (\b \t \n \f \r) must use it; \u is for the other controls only.
      if (code < 0 || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) fail(`non-canonical escape at byte ${at}`);
      at += 6;
      continue;
    }
    if (b < 0x20) fail(`unescaped control character at byte ${at}`);
    isPlain = false; // b >= 0x80
    at += 1;
  }
  pos = at;
  plain = isPlain;
  return fail('unterminated string');
}

/** Buffer#latin1Slice: what Buffer#toString('latin1', …) calls after checking its arguments, which these are. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Buffer, start: number, end: number) => string }).latin1Slice;

function stringValue(start: number): string {
  if (!plain) return JSON.parse(buf.toString('utf8', start - 1, pos)) as string;
  return latin1Slice ? latin1Slice.call(buf, start, pos - 1) : buf.toString('latin1', start, pos - 1);
}

/** Scans a number, checking its form; returns its value. */
function scanNumber(): number {
  const start = pos;
  if (buf[pos] === 0x2d) pos += 1;
  const digits = pos;
  let value = 0;
  while (pos < end && (buf[pos] as number) >= 0x30 && (buf[pos] as number) <= 0x39) value = value * 10 + (buf[pos++] as number) - 0x30;
  if (pos === digits) fail(`invalid number at byte ${start}`);
  const b = buf[pos];
  if (b !== 0x2e && b !== 0x65 && b !== 0x45 && pos - digits <= 15) {
    // Integers below 10^15: canonical iff no leading zero and not -0.
    if ((buf[digits] === 0x30 && pos - digits > 1) || (digits !== start && value === 0)) fail(`number at byte ${start} is not in canonical form`);
    return digits === start ? value : -value;
  }
  while (pos < end && ((buf[pos] as number) === 0x2e || (buf[pos] as number) === 0x2b || (buf[pos] as number) === 0x2d || (buf[pos] as number) === 0x65 || (buf[pos] as number) === 0x45 || ((buf[pos] as number) >= 0x30 && (buf[pos] as number) <= 0x39))) pos += 1;
  const text = buf.toString('latin1', start, pos);
  const number = Number(text);
  if (!Number.isFinite(number) || String(number) !== text) fail(`number ${text} is not in canonical form`);
  return number;
}

function scanLiteral(word: string): void {
  for (let i = 0; i < word.length; i += 1) if (buf[pos + i] !== word.charCodeAt(i)) fail(`invalid literal at byte ${pos}`);
  pos += word.length;
}

/** Whether name a (raw, [aStart, aStop)) sorts strictly before name b under UTF-16 code unit order. */
function before(aStart: number, aStop: number, aPlain: boolean, bStart: number, bStop: number, bPlain: boolean): boolean {
  if (aPlain && bPlain) {
    const n = Math.min(aStop - aStart, bStop - bStart);
    for (let i = 0; i < n; i += 1) {
      const x = buf[aStart + i] as number;
      const y = buf[bStart + i] as number;
      if (x !== y) return x < y;
    }
    return aStop - aStart < bStop - bStart;
  }
  const x = JSON.parse(buf.toString('utf8', aStart - 1, aStop + 1)) as string;
  const y = JSON.parse(buf.toString('utf8', bStart - 1, bStop + 1)) as string;
  return x < y;
}

function scanValue(depth: number): void {
  if (depth > MAX_DEPTH) fail('nested too deeply');
  const b = buf[pos];
  if (b === 0x7b) scanObject(depth + 1, false);
  else if (b === 0x5b) scanArray(depth + 1);
  else if (b === QUOTE) scanString();
  else if (b === 0x2d || (b !== undefined && b >= 0x30 && b <= 0x39)) scanNumber();
  else if (b === 0x74) scanLiteral('true');
  else if (b === 0x66) scanLiteral('false');
  else if (b === 0x6e) scanLiteral('null');
  else fail(`unexpected byte at ${pos}`);
}

function scanArray(depth: number): void {
  pos += 1; // [
  if (buf[pos] === 0x5d) {
    pos += 1;
    return;
  }
  for (;;) {
    scanValue(depth);
    const b = buf[pos++];
    if (b === 0x5d) return;
    if (b !== 0x2c) fail(`expected , or ] at byte ${pos - 1}`);
  }
}

function scanObject(depth: number, top: boolean): void {
  pos += 1; // {
  if (buf[pos] === 0x7d) {
    pos += 1;
    return;
  }
  let previousStart = -1;
  let previousStop = -1;
  let previousPlain = true;
  for (;;) {
    const start = scanString();
    const stop = pos - 1;
    const namePlain = plain;
    if (previousStart >= 0 && !before(previousStart, previousStop, previousPlain, start, stop, namePlain)) fail(`member at byte ${start} is out of order or repeated`);
    previousStart = start;
    previousStop = stop;
    previousPlain = namePlain;
    if (buf[pos++] !== 0x3a) fail(`expected : at byte ${pos - 1}`);
    const member = top && namePlain ? topMember(start, stop) : OTHER;
    if (member === M_SEQ) {
      seq = buf[pos] === 0x2d || buf[pos] === 0x22 ? -1 : scanNumber();
      if (!Number.isSafeInteger(seq) || seq < 0) fail('seq is not a non-negative integer');
    } else if (member === M_TIME) {
      if (buf[pos] !== QUOTE) fail('time is not a string');
      time = stringValue(scanString());
    } else if (member === M_SUBJECT) {
      if (buf[pos] !== QUOTE) fail('subject is not a string');
      subject = stringValue(scanString());
    } else {
      if (member === M_TYPE) hasType = buf[pos] === QUOTE;
      else if (member === M_ACTOR) hasActor = buf[pos] === 0x7b;
      scanValue(depth);
    }
    const b = buf[pos++];
    if (b === 0x7d) return;
    if (b !== 0x2c) fail(`expected , or } at byte ${pos - 1}`);
  }
}

/**
 * Checks `bytes[start, stop)` is one canonical entry. Returns its seq, time and subject, or the
 * reason it is not (a string). `knownUtf8`: the caller has checked a span holding the line is valid
 * UTF-8 (one check per read chunk instead of one per line).
 */
export function scanCanonicalEntry(bytes: Buffer, start: number, stop: number, knownUtf8 = false): ScannedEntry | string {
  if (!knownUtf8 && !isUtf8(bytes.subarray(start, stop))) return 'not valid UTF-8';
  // The scan may peek a few bytes past `stop`; it relies on the byte there being '\n' or absent.
  if (stop < bytes.length && bytes[stop] !== 0x0a) return scanCanonicalEntry(Buffer.from(bytes.subarray(start, stop)), 0, stop - start, true);
  buf = bytes;
  pos = start;
  end = stop;
  seq = -1;
  time = undefined;
  subject = undefined;
  hasType = false;
  hasActor = false;
  try {
    if (buf[pos] !== 0x7b) fail('not a JSON object');
    scanObject(1, true);
    if (pos !== end) fail(`data after the entry at byte ${pos}`);
  } catch (error) {
    if (error instanceof NotCanonical) return error.message;
    throw error;
  } finally {
    buf = NOTHING;
  }
  if (seq < 0) return 'no seq';
  if (time === undefined || !ISO_TIME.test(time)) return 'time is not an ISO 8601 UTC time with milliseconds';
  if (!hasType || !hasActor) return 'type (a string) or actor (an object) missing';
  return { seq, time, subject };
}
