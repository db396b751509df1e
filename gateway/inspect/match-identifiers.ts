// Finds identifiers in a span of bytes: mainland resident identity numbers, HKIDs, mainland and Hong
// Kong phone numbers and e-mail addresses. A vectorised pass (locate-candidates.ts) finds the few bytes
// where one can be; each is examined in place here, which in numeric data is rare.
//
// Ownership: every match has an anchor (where its word starts; the '@' for an e-mail) and is counted
// only when the anchor lies in [from, to). The caller keeps LEFT_CONTEXT bytes before `from` and
// RIGHT_CONTEXT bytes after `to` (unless at the stream's ends), enough to see any match whole, so a
// match near a chunk boundary is counted once, by the window that owns its anchor.
import { checkMainlandId, isValidHkid } from './check-identifiers.js';
import type { IdentifierTally } from './identifier-tally.js';
import { createCandidateLocator, MAX_CANDIDATE_DELAY } from './locate-candidates.js';

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

/** The shortest run of digits matchLongRun looks at: an HKID's six. */
const LONG_RUN = 6;
/** A digit group longer than this is no identifier, whatever follows. */
const MAX_GROUP_DIGITS = 18;
/** "+86 138 1234 5678" has four groups; a fifth makes the run something else. */
const MAX_GROUPS = 4;
const groupStart = new Int32Array(MAX_GROUPS);
const groupLength = new Int32Array(MAX_GROUPS);

export interface IdentifierMatcher {
  /** The buffer the caller fills and matches in (`windowBytes` long). */
  readonly window: Uint8Array;
  /** Looks over [from, to) of `window` for candidates, ahead of `match` calls for spans within it. */
  prepare(from: number, to: number, limit: number): void;
  /**
   * Matches the anchors in [from, to) of `window`, within the range last prepared (spans in order),
   * and records what it finds in `ctx.tally`.
   */
  match(from: number, to: number, ctx: MatchContext): void;
}

/** A matcher with its own window of `windowBytes` bytes. */
export function createIdentifierMatcher(windowBytes: number): IdentifierMatcher {
  const locator = createCandidateLocator(windowBytes);
  const bytes = locator.window;
  // The span being matched, for the one visitor (so no closure is made per span).
  let from = 0;
  let to = 0;
  let ctx: MatchContext | undefined;
  const visit = (at: number): void => {
    if (ctx) matchCandidate(bytes, at, from, to, ctx);
  };
  return {
    window: bytes,
    // A candidate lies up to MAX_CANDIDATE_DELAY bytes after its anchor: look that far past `to`.
    prepare: (spanFrom, spanTo, limit) => locator.locate(spanFrom, spanTo + MAX_CANDIDATE_DELAY + 1, limit),
    match(spanFrom, spanTo, spanCtx) {
      from = spanFrom;
      to = spanTo;
      ctx = spanCtx;
      locator.visit(from, to + MAX_CANDIDATE_DELAY + 1, visit);
    },
  };
}

/**
 * A candidate from the locator: an '@'; a digit after the separator that follows a first group of
 * 2–4 digits; or the byte after a run of digits long enough for an identifier. Only anchors in
 * [from, to) count.
 */
function matchCandidate(bytes: Uint8Array, at: number, from: number, to: number, ctx: MatchContext): void {
  const byte = byteAt(bytes, at, ctx);
  if (isDigit(byte)) {
    const runStart = runStartBefore(bytes, at - 1, ctx);
    if (runStart >= from && runStart < to && !isAlnum(byteAt(bytes, runStart - 1, ctx))) matchNumber(bytes, runStart, ctx);
    return;
  }
  // An '@' can also be the byte after a number ("13812345678@"): both are looked at.
  const runStart = runStartBefore(bytes, at, ctx);
  if (at - runStart >= LONG_RUN) matchLongRun(bytes, runStart, from, to, ctx);
  if (byte === AT_SIGN && at >= from && at < to) matchEmail(bytes, at, ctx);
}

/** Where the run of digits that ends right before `end` starts. */
function runStartBefore(bytes: Uint8Array, end: number, ctx: MatchContext): number {
  let start = end;
  while (isDigit(byteAt(bytes, start - 1, ctx))) start -= 1;
  return start;
}

/**
 * A run of at least six digits that starts at `runStart`: an HKID if one or two capitals start the
 * word there; a number if the word starts with the run and the run is as long as an ungrouped
 * identifier (11 or 13 digits for phones, 17 or 18 for identity numbers; grouped numbers are
 * candidates at their first separator instead).
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
