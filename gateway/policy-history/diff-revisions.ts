// What changed between two kept policy revisions, file by file, as unified-diff hunks (3 lines of
// context) that the console renders as it likes: no patch text to parse again.
import { structuredPatch } from 'diff';
import type { PolicyRevisionRecord } from './policy-history.js';

export type PolicyFileChange = 'added' | 'removed' | 'changed' | 'same';

export interface PolicyDiffLine {
  readonly kind: ' ' | '+' | '-';
  /** The line without its newline (a CRLF file's lines keep their '\r'). */
  readonly text: string;
  /** Set on the last line of a text that does not end with a newline (diff's "\ No newline at end of file"). */
  readonly noNewlineAtEnd?: true;
}

export interface PolicyDiffHunk {
  readonly oldStart: number;
  readonly oldLines: number;
  readonly newStart: number;
  readonly newLines: number;
  readonly lines: readonly PolicyDiffLine[];
}

export interface PolicyFileDiff {
  readonly name: string;
  readonly change: PolicyFileChange;
  /** Empty when the file is the same in both. */
  readonly hunks: readonly PolicyDiffHunk[];
}

const CONTEXT_LINES = 3;

/** Per file name of either revision (sorted by name), how it changed from `older` to `newer`. */
export function diffRevisions(older: PolicyRevisionRecord, newer: PolicyRevisionRecord): PolicyFileDiff[] {
  const before = new Map(older.files.map((file) => [file.name, file.text]));
  const after = new Map(newer.files.map((file) => [file.name, file.text]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names.map((name): PolicyFileDiff => {
    const oldText = before.get(name);
    const newText = after.get(name);
    const change: PolicyFileChange = oldText === undefined ? 'added' : newText === undefined ? 'removed' : oldText === newText ? 'same' : 'changed';
    if (change === 'same') return { name, change, hunks: [] };
    const patch = structuredPatch(name, name, oldText ?? '', newText ?? '', undefined, undefined, { context: CONTEXT_LINES });
    return { name, change, hunks: patch.hunks.map(({ oldStart, oldLines, newStart, newLines, lines }) => ({ oldStart, oldLines, newStart, newLines, lines: diffLinesOf(lines) })) };
  });
}

/** Unified-diff lines (' x', '+x', '-x', '\ No newline…') as records; the marker flags the line before it. */
function diffLinesOf(lines: readonly string[]): PolicyDiffLine[] {
  const out: PolicyDiffLine[] = [];
  for (const line of lines) {
    const kind = line[0];
    if (kind === '\\') {
      const last = out.pop();
      if (last) out.push({ ...last, noNewlineAtEnd: true });
    } else if (kind === ' ' || kind === '+' || kind === '-') {
      out.push({ kind, text: line.slice(1) });
    }
  }
  return out;
}
