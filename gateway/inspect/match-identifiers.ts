// Finds identifiers in a span of bytes: mainland resident identity numbers, HKIDs, mainland and Hong
// Kong phone numbers and e-mail addresses. One pass of a table-driven automaton; a candidate is
// examined in place only where the automaton fires, which in numeric data is rare.
//
// Ownership: every match has an anchor (where its word starts; the '@' for an e-mail) and is counted
// only when the anchor lies in [from, to). The caller keeps LEFT_CONTEXT bytes before `from` and
// RIGHT_CONTEXT bytes after `to` (unless at the stream's ends), enough to see any match whole, so a
// match near a chunk boundary is counted once, by the window that owns its anchor.
import { checkMainlandId, isValidHkid } from './check-identifiers.js';
import type { IdentifierTally } from './identifier-tally.js';

/** Bytes needed before an anchor: an e-mail's local part (at most 64) and the byte before it. */
export const LEFT_CONTEXT = 80;
/** Bytes needed after an anchor: an e-mail's domain (at most 253) and the bytes after it. */
export const RIGHT_CONTEXT = 272;

export interface MatchContext {
  /** Absolute offset of the buffer's first byte. */
  base: number;
  /** End of the valid bytes in the buffer: nothing at or after it is read. */
  limit: number;
  readonly tally: IdentifierTally;
  /** YYYYMMDD: later birth dates are implausible. */
  readonly latestBirthDate: number;
}

const DIGIT = 1;
const UPPER = 2;
const LOWER = 4;
const ALNUM = DIGIT | UPPER | LOWER;
const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c += 1) CLASS[c] = DIGIT;
for (let c = 0x41; c <= 0x5a; c += 1) CLASS[c] = UPPER;
for (let c = 0x61; c <= 0x7a; c += 1) CLASS[c] = LOWER;

const SPACE = 0x20;
const PLUS = 0x2b;
const HYPHEN = 0x2d;
const DOT = 0x2e;
const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;
const AT_SIGN = 0x40;
const LETTER_A = 0x41;
const NONE = -1;

/**
 * The scan loop keeps, as a 7-bit mask, which of the last seven bytes were digits, and looks up each
 * byte's flags against it in a table, so a byte costs two loads, a shift and a branch that is almost
 * never taken (the mask is not on a load chain, so bytes overlap in the pipeline). The table fires on
 * an '@'; on the sixth digit of a run (every identity number, HKID and ungrouped phone number has
 * one); and on a space or hyphen right after a run of 2–4 digits (the first group of "138 1234 5678",
 * "+86 138…", "+852 2345 6789", "2345 6789"). Anything is looked at closely only where it fires.
 */
const DIGIT_FLAG = 1;
const SPACE_FLAG = 2;
const HYPHEN_FLAG = 3;
const AT_FLAG = 4;
const FLAGS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c += 1) FLAGS[c] = DIGIT_FLAG;
FLAGS[SPACE] = SPACE_FLAG;
FLAGS[HYPHEN] = HYPHEN_FLAG;
FLAGS[AT_SIGN] = AT_FLAG;
const HISTORY_MASK = 0x7f;
/** Trigger values: 1 sixth digit; 2–4 separator after that many digits; 8 '@'. */
const ON_SIXTH_DIGIT = 1;
const ON_AT_SIGN = 8;
const TRIGGER = new Uint8Array((HISTORY_MASK + 1) << 3);
for (let history = 0; history <= HISTORY_MASK; history += 1) {
  // Five digits, and no digit before them.
  if ((history & 0x3f) === 0x1f) TRIGGER[(history << 3) | DIGIT_FLAG] = ON_SIXTH_DIGIT;
  for (let run = 2; run <= 4; run += 1) {
    if ((history & ((2 << run) - 1)) !== (1 << run) - 1) continue;
    TRIGGER[(history << 3) | SPACE_FLAG] = run;
    // A four-digit first group only counts before a space ("2345 6789"); this spares "2024-01-31".
    if (run < 4) TRIGGER[(history << 3) | HYPHEN_FLAG] = run;
  }
  TRIGGER[(history << 3) | AT_FLAG] = ON_AT_SIGN;
}
/** A trigger fires at most this many bytes after its match's anchor (two HKID letters and six digits). */
const TRIGGER_DELAY = 8;

/** A digit group longer than this is no identifier, whatever follows. */
const MAX_GROUP_DIGITS = 18;
/** "+86 138 1234 5678" has four groups; a fifth makes the run something else. */
const MAX_GROUPS = 4;
const groupStart = new Int32Array(MAX_GROUPS);
const groupLength = new Int32Array(MAX_GROUPS);

/** Scans the anchors in [from, to) of `bytes` and records what it finds in `ctx.tally`. */
export function matchIdentifiers(bytes: Uint8Array, from: number, to: number, ctx: MatchContext): void {
  // Triggers fire a little after their anchor: run on past `to`, and only count anchors in [from, to).
  const end = Math.min(to + TRIGGER_DELAY, ctx.limit);
  let history = 0;
  for (let back = Math.max(0, from - 7); back < from; back += 1) history = (history << 1) | (FLAGS[bytes[back]!]! & DIGIT_FLAG);
  let i = from;
  // Four bytes per round: the loads of a round do not wait on each other (measured 1.6× one at a time).
  for (const last = end - 3; i < last; i += 4) {
    const f0 = FLAGS[bytes[i]!]!;
    const f1 = FLAGS[bytes[i + 1]!]!;
    const f2 = FLAGS[bytes[i + 2]!]!;
    const f3 = FLAGS[bytes[i + 3]!]!;
    const h1 = ((history << 1) | (f0 & DIGIT_FLAG)) & HISTORY_MASK;
    const h2 = ((h1 << 1) | (f1 & DIGIT_FLAG)) & HISTORY_MASK;
    const h3 = ((h2 << 1) | (f2 & DIGIT_FLAG)) & HISTORY_MASK;
    const t0 = TRIGGER[(history << 3) | f0]!;
    const t1 = TRIGGER[(h1 << 3) | f1]!;
    const t2 = TRIGGER[(h2 << 3) | f2]!;
    const t3 = TRIGGER[(h3 << 3) | f3]!;
    history = ((h3 << 1) | (f3 & DIGIT_FLAG)) & HISTORY_MASK;
    if ((t0 | t1 | t2 | t3) === 0) continue;
    if (t0 !== 0) handleTrigger(bytes, i, t0, from, to, ctx);
    if (t1 !== 0) handleTrigger(bytes, i + 1, t1, from, to, ctx);
    if (t2 !== 0) handleTrigger(bytes, i + 2, t2, from, to, ctx);
    if (t3 !== 0) handleTrigger(bytes, i + 3, t3, from, to, ctx);
  }
  for (; i < end; i += 1) {
    const flags = FLAGS[bytes[i]!]!;
    const trigger = TRIGGER[(history << 3) | flags]!;
    history = ((history << 1) | (flags & DIGIT_FLAG)) & HISTORY_MASK;
    if (trigger !== 0) handleTrigger(bytes, i, trigger, from, to, ctx);
  }
}

function handleTrigger(bytes: Uint8Array, at: number, trigger: number, from: number, to: number, ctx: MatchContext): void {
  if (trigger === ON_AT_SIGN) {
    if (at >= from && at < to) matchEmail(bytes, at, ctx);
  } else if (trigger === ON_SIXTH_DIGIT) {
    matchLongRun(bytes, at - 5, from, to, ctx);
  } else {
    const runStart = at - trigger;
    if (runStart >= from && runStart < to && !isAlnum(byteAt(bytes, runStart - 1, ctx))) matchNumber(bytes, runStart, ctx);
  }
}

/**
 * The sixth digit of a run that starts at `runStart`: an HKID if one or two capitals start the word
 * there; a number if the word starts with the run and the run is as long as an ungrouped identifier
 * (11 or 13 digits for phones, 17 or 18 for identity numbers; grouped numbers trigger at their
 * first separator instead).
 */
function matchLongRun(bytes: Uint8Array, runStart: number, from: number, to: number, ctx: MatchContext): void {
  const before = byteAt(bytes, runStart - 1, ctx);
  if (isUpper(before)) {
    const start = isUpper(byteAt(bytes, runStart - 2, ctx)) ? runStart - 2 : runStart - 1;
    if (start >= from && start < to && !isAlnum(byteAt(bytes, start - 1, ctx))) matchHkid(bytes, start, ctx);
    return;
  }
  if (isAlnum(before) || runStart < from || runStart >= to) return;
  let end = runStart + 6;
  while (end - runStart <= MAX_GROUP_DIGITS && isDigit(byteAt(bytes, end, ctx))) end += 1;
  const length = end - runStart;
  if (length === 11 || length === 13 || length === 17 || length === 18) matchNumber(bytes, runStart, ctx);
}

function isUpper(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}

function byteAt(bytes: Uint8Array, at: number, ctx: MatchContext): number {
  return at >= 0 && at < ctx.limit ? bytes[at]! : NONE;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function isAlnum(byte: number): boolean {
  return byte >= 0 && (CLASS[byte]! & ALNUM) !== 0;
}

/**
 * A run of digit groups joined by single spaces or hyphens, taken whole: it must match one identifier
 * shape exactly, so a number inside a longer number, a decimal fraction or a list of numbers does not.
 */
function matchNumber(bytes: Uint8Array, start: number, ctx: MatchContext): void {
  const before = byteAt(bytes, start - 1, ctx);
  // A later group of a run that started earlier ("138 1234 5678"), or the fraction of a decimal.
  if ((before === SPACE || before === HYPHEN || before === DOT) && isDigit(byteAt(bytes, start - 2, ctx))) return;

  let at = start;
  let groups = 0;
  let separators = 0; // bit g set: the separator after group g is a space
  for (;;) {
    const groupBegin = at;
    while (isDigit(byteAt(bytes, at, ctx))) {
      at += 1;
      if (at - groupBegin > MAX_GROUP_DIGITS) return;
    }
    groupStart[groups] = groupBegin;
    groupLength[groups] = at - groupBegin;
    groups += 1;
    const separator = byteAt(bytes, at, ctx);
    if ((separator === SPACE || separator === HYPHEN) && isDigit(byteAt(bytes, at + 1, ctx))) {
      if (groups === MAX_GROUPS) return;
      if (separator === SPACE) separators |= 1 << (groups - 1);
      at += 1;
      continue;
    }
    break;
  }

  let after = byteAt(bytes, at, ctx);
  const checkX = (after === 0x58 || after === 0x78) && groups === 1 && groupLength[0] === 17;
  if (checkX) after = byteAt(bytes, at + 1, ctx);
  else if (isAlnum(after)) return;
  if (isAlnum(after) || (after === DOT && isDigit(byteAt(bytes, (checkX ? at + 1 : at) + 1, ctx)))) return;

  const kind = classifyNumber(bytes, groups, separators, before === PLUS, checkX, ctx);
  // The offset is where the number as written starts, '+' included.
  if (kind !== undefined) ctx.tally.record(kind, ctx.base + (before === PLUS ? start - 1 : start));
}

type NumberKind = 'mainland-id' | 'mainland-id-lookalike' | 'phone-mainland' | 'phone-hk';

function classifyNumber(bytes: Uint8Array, groups: number, separators: number, plus: boolean, checkX: boolean, ctx: MatchContext): NumberKind | undefined {
  const s0 = groupStart[0]!;
  const n0 = groupLength[0]!;
  const n1 = groupLength[1]!;
  const n2 = groupLength[2]!;
  const n3 = groupLength[3]!;
  if (groups === 1) {
    if (n0 === 18 || checkX) {
      const check = checkMainlandId(bytes, s0, ctx.latestBirthDate);
      return check === 'valid' ? 'mainland-id' : check === 'wrong-check-character' ? 'mainland-id-lookalike' : undefined;
    }
    if (n0 === 11 && isMobileAt(bytes, s0)) return 'phone-mainland';
    if (n0 === 13 && isPrefix86(bytes, s0) && isMobileAt(bytes, s0 + 2)) return 'phone-mainland';
    if (n0 === 11 && isPrefix852(bytes, s0) && isHongKongLeading(bytes[s0 + 3]!)) return 'phone-hk';
    return undefined;
  }
  const s1 = groupStart[1]!;
  if (groups === 2) {
    if (n0 === 2 && n1 === 11 && isPrefix86(bytes, s0) && isMobileAt(bytes, s1)) return 'phone-mainland';
    if (n0 === 3 && n1 === 8 && isPrefix852(bytes, s0) && isHongKongLeading(bytes[s1]!)) return 'phone-hk';
    // "2345 6789": only with a space between the halves and nothing else around (no prefix to go on).
    if (n0 === 4 && n1 === 4 && !plus && separators === 1 && isHongKongLeading(bytes[s0]!)) return 'phone-hk';
    return undefined;
  }
  if (groups === 3 && n1 === 4 && n2 === 4) {
    if (n0 === 3 && isMobileAt(bytes, s0)) return 'phone-mainland';
    if (n0 === 3 && isPrefix852(bytes, s0) && isHongKongLeading(bytes[s1]!)) return 'phone-hk';
    return undefined;
  }
  if (groups === 4 && n0 === 2 && n1 === 3 && n2 === 4 && n3 === 4 && isPrefix86(bytes, s0) && isMobileAt(bytes, s1)) return 'phone-mainland';
  return undefined;
}

/** Mainland mobile numbers start 13–19. */
function isMobileAt(bytes: Uint8Array, at: number): boolean {
  const second = bytes[at + 1]!;
  return bytes[at] === 0x31 && second >= 0x33 && second <= 0x39;
}

function isPrefix86(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === 0x38 && bytes[at + 1] === 0x36;
}

function isPrefix852(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === 0x38 && bytes[at + 1] === 0x35 && bytes[at + 2] === 0x32;
}

/** Hong Kong subscriber numbers start 2, 3 (fixed), 5, 6, 7, 9 (mobile) or 8 (services). */
function isHongKongLeading(byte: number): boolean {
  return byte === 0x32 || byte === 0x33 || (byte >= 0x35 && byte <= 0x39);
}

/** One or two capitals, six digits, then the check character as `3`, `A` or `(3)`. */
function matchHkid(bytes: Uint8Array, start: number, ctx: MatchContext): void {
  const letters = isUpper(byteAt(bytes, start + 1, ctx)) ? 2 : 1;
  const digits = start + letters;
  for (let i = 0; i < 6; i += 1) if (!isDigit(byteAt(bytes, digits + i, ctx))) return;
  let at = digits + 6;
  let check = byteAt(bytes, at, ctx);
  if (isDigit(check) || check === LETTER_A) {
    at += 1;
  } else if (check === OPEN_PAREN && byteAt(bytes, at + 2, ctx) === CLOSE_PAREN) {
    check = byteAt(bytes, at + 1, ctx);
    if (!isDigit(check) && check !== LETTER_A) return;
    at += 3;
  } else {
    return;
  }
  if (isAlnum(byteAt(bytes, at, ctx))) return;
  if (isValidHkid(bytes, start, letters, digits, check)) ctx.tally.record('hkid', ctx.base + start);
}

const LOCAL_MAX = 64;
const DOMAIN_MAX = 253;
const LABEL_MAX = 63;
const TLD_MAX = 24;

/** Characters of an address's local part as they occur in data: letters, digits and . _ % + - */
function isLocalByte(byte: number): boolean {
  return isAlnum(byte) || byte === DOT || byte === 0x5f || byte === 0x25 || byte === PLUS || byte === HYPHEN;
}

function isDomainByte(byte: number): boolean {
  return isAlnum(byte) || byte === HYPHEN;
}

/** local@label.label…tld, anchored at the '@'; the offset recorded is where the local part starts. */
function matchEmail(bytes: Uint8Array, at: number, ctx: MatchContext): void {
  let start = at;
  while (at - start < LOCAL_MAX && isLocalByte(byteAt(bytes, start - 1, ctx))) start -= 1;
  if (isLocalByte(byteAt(bytes, start - 1, ctx))) return; // longer than an address's local part
  while (start < at && bytes[start] === DOT) start += 1;
  if (start === at || bytes[at - 1] === DOT) return;

  let position = at + 1;
  let labels = 0;
  let lastLabel: number | undefined;
  for (;;) {
    const label = position;
    while (isDomainByte(byteAt(bytes, position, ctx))) {
      position += 1;
      if (position - at - 1 > DOMAIN_MAX) return;
    }
    const length = position - label;
    if (length === 0 || length > LABEL_MAX || bytes[label] === HYPHEN || bytes[position - 1] === HYPHEN) return;
    labels += 1;
    lastLabel = label;
    if (byteAt(bytes, position, ctx) === DOT && isDomainByte(byteAt(bytes, position + 1, ctx))) {
      position += 1;
      continue;
    }
    break;
  }
  if (labels < 2 || lastLabel === undefined || position - lastLabel < 2 || position - lastLabel > TLD_MAX) return;
  for (let i = lastLabel; i < position; i += 1) if ((CLASS[bytes[i]!]! & (UPPER | LOWER)) === 0) return;
  ctx.tally.record('email', ctx.base + start);
}
