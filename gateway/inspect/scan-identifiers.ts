// Runs the identifier matchers over a stream in fixed windows. Each window is the previous window's
// tail (LEFT_CONTEXT + RIGHT_CONTEXT bytes, copied forward) followed by up to 64 KiB of new bytes; a
// window owns the anchors from where the previous one stopped to RIGHT_CONTEXT before its end, so a
// match split across chunks is seen whole and counted once whatever the chunk sizes. Memory is the
// one window buffer; work per byte is constant (the tail is re-read once per 64 KiB).
//
// Sampling: the first `fullBytes` are scanned, then one `windowBytes` window in every `every`; the
// bytes between still pass through the window (the line state and the context need them) but are not
// matched.
import type { IdentifierTally } from './identifier-tally.js';
import { createIdentifierMatcher, LEFT_CONTEXT, RIGHT_CONTEXT, type MatchContext } from './match-identifiers.js';
import { createLineSelector, type ScanProfile } from './select-scanned-lines.js';

const FRESH_BYTES = 64 * 1024;
const TAIL_BYTES = LEFT_CONTEXT + RIGHT_CONTEXT;

export interface Sampling {
  readonly fullBytes: number;
  readonly windowBytes: number;
  readonly every: number;
}

export interface IdentifierScannerOptions {
  readonly profile: ScanProfile;
  readonly tally: IdentifierTally;
  readonly latestBirthDate: number;
  /** Undefined: scan every byte. */
  readonly sampling?: Sampling;
}

export interface IdentifierScanner {
  write(bytes: Uint8Array): void;
  finish(): void;
  /** Bytes whose anchors were matched (sampled windows only, when sampling). */
  readonly bytesScanned: number;
  /** Bytes seen. */
  readonly bytesSeen: number;
}

/** A scanner over a stream that starts at offset 0. */
export function createIdentifierScanner(options: IdentifierScannerOptions): IdentifierScanner {
  const matcher = createIdentifierMatcher(TAIL_BYTES + FRESH_BYTES);
  const window = matcher.window;
  const selector = createLineSelector(options.profile);
  const ctx: MatchContext = { base: 0, limit: 0, tally: options.tally, latestBirthDate: options.latestBirthDate };
  const scanSpan = (from: number, to: number): void => matcher.match(from, to, ctx);
  let length = 0;
  let owned = 0; // index in `window` where the anchors not yet decided start
  let bytesScanned = 0;
  let bytesSeen = 0;

  const scanOwned = (from: number, to: number): void => {
    // One pass of the candidate kernel over the region, then the selector's spans (FASTQ headers,
    // SAM's first fields: often short) pick from what it found.
    matcher.prepare(from, to, ctx.limit);
    selector.select(window, from, to, scanSpan);
    bytesScanned += to - from;
  };

  const decide = (from: number, to: number): void => {
    const sampling = options.sampling;
    if (!sampling) return scanOwned(from, to);
    for (let at = from; at < to; ) {
      const { scanned, end } = sampledRegionAt(ctx.base + at, sampling);
      const stop = Math.min(to, end - ctx.base);
      if (scanned) scanOwned(at, stop);
      else selector.skip(window, at, stop);
      at = stop;
    }
  };

  const flush = (final: boolean): void => {
    ctx.limit = length;
    const end = final ? length : length - RIGHT_CONTEXT;
    if (end > owned) decide(owned, end);
    if (final) return;
    window.copyWithin(0, length - TAIL_BYTES, length);
    ctx.base += length - TAIL_BYTES;
    owned = LEFT_CONTEXT;
    length = TAIL_BYTES;
  };

  return {
    write(bytes) {
      bytesSeen += bytes.length;
      for (let at = 0; at < bytes.length; ) {
        const take = Math.min(bytes.length - at, window.length - length);
        window.set(bytes.subarray(at, at + take), length);
        length += take;
        at += take;
        if (length === window.length) flush(false);
      }
    },
    finish: () => flush(true),
    get bytesScanned() {
      return bytesScanned;
    },
    get bytesSeen() {
      return bytesSeen;
    },
  };
}

/** Whether the absolute `offset` is in a scanned region, and where that region (scanned or not) ends. */
function sampledRegionAt(offset: number, sampling: Sampling): { scanned: boolean; end: number } {
  if (offset < sampling.fullBytes) return { scanned: true, end: sampling.fullBytes };
  const block = Math.floor((offset - sampling.fullBytes) / sampling.windowBytes);
  const scanned = block % sampling.every === 0;
  const nextBlock = scanned ? block + 1 : (Math.floor(block / sampling.every) + 1) * sampling.every;
  return { scanned, end: sampling.fullBytes + nextBlock * sampling.windowBytes };
}
