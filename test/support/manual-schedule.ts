// A Schedule (gateway/schedule.ts) that runs nothing by itself: the test says when the interval
// tasks tick and when the delayed tasks come due, and awaits what they started. Tests that depend
// on "every N ms" or "after N ms of quiet" use it instead of sleeping on the wall clock.
import type { Cancel, Schedule } from '../../gateway/clock/schedule.js';

interface Entry {
  readonly ms: number;
  readonly task: () => unknown;
}

export interface ManualSchedule extends Schedule {
  /** Runs every interval task once, in the order they were scheduled, and awaits each. */
  tick(): Promise<void>;
  /** Runs the delayed tasks scheduled and not cancelled so far (each once), and awaits them. */
  runDue(): Promise<void>;
  /** The intervals (ms) of the interval tasks not cancelled. */
  intervals(): number[];
  /** The delays (ms) of the delayed tasks neither run nor cancelled. */
  delays(): number[];
}

export function createManualSchedule(): ManualSchedule {
  const repeating = new Set<Entry>();
  const delayed = new Set<Entry>();
  const add = (set: Set<Entry>, entry: Entry): Cancel => {
    set.add(entry);
    return () => void set.delete(entry);
  };
  return {
    every: (ms, task) => add(repeating, { ms, task }),
    after: (ms, task) => add(delayed, { ms, task }),
    async tick() {
      for (const entry of [...repeating]) await entry.task();
    },
    async runDue() {
      const due = [...delayed];
      delayed.clear();
      for (const entry of due) await entry.task();
    },
    intervals: () => [...repeating].map((entry) => entry.ms),
    delays: () => [...delayed].map((entry) => entry.ms),
  };
}
