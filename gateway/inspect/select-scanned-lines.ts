// Which parts of record-structured text the identifier scan reads. FASTQ: only the `@` header line of
// each four-line record; SAM: header lines and the first nine fields of alignment lines. Sequence and
// quality strings (and SAM tags) are skipped: Phred characters include '@', '.', digits and capitals,
// so over gigabytes of reads they would produce "e-mail addresses" and "phone numbers" by chance, and
// no identifier lives there. Other text is read in full. Line state carries across windows.

export type ScanProfile = 'text' | 'fastq' | 'sam';

export interface LineSelector {
  /** Calls `scan` for the parts of [from, to) to read, advancing the line state over all of it. */
  select(bytes: Uint8Array, from: number, to: number, scan: (from: number, to: number) => void): void;
  /** Advances the line state over bytes that are not scanned (gaps between sampled windows). */
  skip(bytes: Uint8Array, from: number, to: number): void;
}

const NEWLINE = 0x0a;
const TAB = 0x09;
const AT_SIGN = 0x40;
/** QNAME FLAG RNAME POS MAPQ CIGAR RNEXT PNEXT TLEN; SEQ and QUAL follow. */
const SAM_SCANNED_FIELDS = 9;

/** A selector for the profile, starting at the beginning of the content. */
export function createLineSelector(profile: ScanProfile): LineSelector {
  if (profile === 'fastq') return createFastqSelector();
  if (profile === 'sam') return createSamSelector();
  return { select: (_bytes, from, to, scan) => scan(from, to), skip: () => undefined };
}

function lineEndWithin(bytes: Uint8Array, from: number, to: number): number {
  const newline = bytes.indexOf(NEWLINE, from);
  return newline === -1 || newline >= to ? to : newline;
}

function createFastqSelector(): LineSelector {
  let line = 0; // 0 header, 1 sequence, 2 '+', 3 quality
  return {
    select(bytes, from, to, scan) {
      for (let at = from; at < to; ) {
        const end = lineEndWithin(bytes, at, to);
        if (line === 0 && end > at) scan(at, end);
        if (end === to) break;
        line = (line + 1) & 3;
        at = end + 1;
      }
    },
    skip(bytes, from, to) {
      for (let at = lineEndWithin(bytes, from, to); at < to; at = lineEndWithin(bytes, at + 1, to)) line = (line + 1) & 3;
    },
  };
}

function createSamSelector(): LineSelector {
  let atLineStart = true;
  let header = false;
  let field = 0;
  const startLine = (bytes: Uint8Array, at: number): void => {
    header = bytes[at] === AT_SIGN;
    field = 0;
    atLineStart = false;
  };
  return {
    select(bytes, from, to, scan) {
      for (let at = from; at < to; ) {
        if (atLineStart) startLine(bytes, at);
        const end = lineEndWithin(bytes, at, to);
        if (header) {
          scan(at, end);
        } else if (field < SAM_SCANNED_FIELDS) {
          let stop = at;
          for (; stop < end && field < SAM_SCANNED_FIELDS; stop += 1) if (bytes[stop] === TAB) field += 1;
          scan(at, stop);
        }
        if (end === to) break;
        atLineStart = true;
        at = end + 1;
      }
    },
    skip(bytes, from, to) {
      if (from >= to) return;
      const lastNewline = bytes.lastIndexOf(NEWLINE, to - 1);
      let rest = from;
      if (lastNewline >= from) {
        atLineStart = true;
        rest = lastNewline + 1;
      }
      if (rest === to) return;
      if (atLineStart) startLine(bytes, rest);
      for (let at = rest; at < to; at += 1) if (bytes[at] === TAB) field += 1;
    },
  };
}
