// The journal's small in-memory index: which seqs belong to each transfer (subject), and every
// 1024th entry's byte offset and time, so an export starts reading near its first entry instead of
// at byte 0 (times never decrease along the journal, so a time bound can be bisected too).
const STRIDE = 1024;

export interface EntryIndex {
  /** Records entry `seq` (which must be the next one) at byte `offset`. */
  add(seq: number, offset: number, time: string, subject: string | undefined): void;
  /** The seqs of a subject's entries, ascending (the live array: copy before handing out). */
  seqsOf(subject: string): readonly number[] | undefined;
  /** A (seq, offset) at or before the first entry with seq ≥ fromSeq and time ≥ fromTime. */
  seekPoint(fromSeq: number, fromTime: string | undefined): { seq: number; offset: number };
}

export function createEntryIndex(): EntryIndex {
  const subjects = new Map<string, number[]>();
  const offsets: number[] = [];
  const times: string[] = [];
  return {
    add(seq, offset, time, subject) {
      if (seq % STRIDE === 0) {
        offsets.push(offset);
        times.push(time);
      }
      if (subject !== undefined) {
        const seqs = subjects.get(subject);
        if (seqs) seqs.push(seq);
        else subjects.set(subject, [seq]);
      }
    },
    seqsOf(subject) {
      return subjects.get(subject);
    },
    seekPoint(fromSeq, fromTime) {
      let point = Math.min(Math.floor(fromSeq / STRIDE), offsets.length - 1);
      if (fromTime !== undefined) {
        // The last sampled entry whose time is before fromTime: everything earlier is before it too.
        let low = 0;
        let high = offsets.length - 1;
        let byTime = 0;
        while (low <= high) {
          const mid = Math.floor((low + high) / 2);
          if ((times[mid] as string) < fromTime) {
            byTime = mid;
            low = mid + 1;
          } else {
            high = mid - 1;
          }
        }
        point = Math.max(point, byTime);
      }
      if (point < 0) return { seq: 0, offset: 0 };
      return { seq: point * STRIDE, offset: offsets[point] as number };
    },
  };
}
