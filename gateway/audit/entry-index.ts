// The journal's small in-memory index: which seqs belong to each transfer (subject), and every
// 1024th entry's byte offset and time, so an export starts reading near its first entry instead of
// at byte 0 (times never decrease along the journal, so a time bound can be bisected too).
const STRIDE = 1024;

export interface EntryIndex {
  /** Records entry `seq` (which must be the next one) at byte `offset`. */
  add(seq: number, offset: number, time: string, subject: string | undefined): void;
  /** Records a part built elsewhere (a worker thread) whose first seq is the next one. */
  addPart(part: EntryIndexPart): void;
  /** The seqs of a subject's entries, ascending (the live array: copy before handing out). */
  seqsOf(subject: string): readonly number[] | undefined;
  /** A (seq, offset) at or before the first entry with seq ≥ fromSeq and time ≥ fromTime. */
  seekPoint(fromSeq: number, fromTime: string | undefined): { seq: number; offset: number };
}

/**
 * What EntryIndex.add would record for a run of consecutive entries, in a form that crosses to
 * another thread cheaply (structured clone; subjectOfEntry's buffer can be transferred).
 */
export interface EntryIndexPart {
  readonly firstSeq: number;
  readonly count: number;
  /** Offset and time of each entry of the part whose seq is a multiple of the stride. */
  readonly sampleOffsets: number[];
  readonly sampleTimes: string[];
  /** Distinct subjects in order of first appearance. */
  readonly subjects: string[];
  /** Per entry, its subject's position in `subjects`, or -1 for none. */
  readonly subjectOfEntry: Int32Array;
}

export interface EntryIndexPartBuilder {
  /** As EntryIndex.add: `seq` is the next one (the first call sets where the part starts). */
  add(seq: number, offset: number, time: string, subject: string | undefined): void;
  finish(): EntryIndexPart;
}

export function createEntryIndexPart(): EntryIndexPartBuilder {
  let firstSeq = 0;
  let count = 0;
  const sampleOffsets: number[] = [];
  const sampleTimes: string[] = [];
  const subjects: string[] = [];
  const positions = new Map<string, number>();
  let subjectOfEntry = new Int32Array(1024);
  // A transfer's events often come in a run: comparing with the last subject is cheaper than a lookup.
  let lastSubject: string | undefined;
  let lastPosition = -1;
  return {
    add(seq, offset, time, subject) {
      if (count === 0) firstSeq = seq;
      if (seq % STRIDE === 0) {
        sampleOffsets.push(offset);
        sampleTimes.push(time);
      }
      let position = -1;
      if (subject === lastSubject) position = lastPosition;
      else if (subject !== undefined) {
        position = positions.get(subject) ?? -1;
        if (position < 0) {
          position = subjects.push(subject) - 1;
          positions.set(subject, position);
        }
        lastSubject = subject;
        lastPosition = position;
      }
      if (count === subjectOfEntry.length) {
        const grown = new Int32Array(2 * count);
        grown.set(subjectOfEntry);
        subjectOfEntry = grown;
      }
      subjectOfEntry[count] = position;
      count += 1;
    },
    finish() {
      return { firstSeq, count, sampleOffsets, sampleTimes, subjects, subjectOfEntry: subjectOfEntry.slice(0, count) };
    },
  };
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
    addPart(part) {
      for (let i = 0; i < part.sampleOffsets.length; i += 1) {
        offsets.push(part.sampleOffsets[i] as number);
        times.push(part.sampleTimes[i] as string);
      }
      const seqsOfPosition = part.subjects.map((subject) => {
        let seqs = subjects.get(subject);
        if (!seqs) subjects.set(subject, (seqs = []));
        return seqs;
      });
      for (let i = 0; i < part.count; i += 1) {
        const position = part.subjectOfEntry[i] as number;
        if (position >= 0) (seqsOfPosition[position] as number[]).push(part.firstSeq + i);
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
