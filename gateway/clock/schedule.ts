// Time as an input: parts that do something "every N ms" or "N ms after the last event" take a
// Schedule instead of calling setInterval/setTimeout, so that a test can run the due work itself,
// exactly when it chooses (test/support/manual-schedule.ts), instead of waiting on a wall clock
// that a busy machine stretches. The system schedule never keeps the process alive.

/** Stops a scheduled task; calling it again does nothing. */
export type Cancel = () => void;

export interface Schedule {
  /** Runs `task` every `intervalMs` until cancelled. A returned promise is the task's own business. */
  every(intervalMs: number, task: () => unknown): Cancel;
  /** Runs `task` once, `delayMs` from now, unless cancelled first. */
  after(delayMs: number, task: () => unknown): Cancel;
}

/** Node's timers, unref'd: a pending checkpoint or debounce never holds a stopping process. */
export const systemSchedule: Schedule = {
  every(intervalMs, task) {
    const timer = setInterval(() => void task(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
  after(delayMs, task) {
    const timer = setTimeout(() => void task(), delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
