// The bounded stop on a schedule fired by hand: a step still running when its phase ends is
// abandoned and named, the steps after it still run, a failing step is reported, and a step that
// gives up on the deadline signal counts as abandoned, not failed. No timer runs here.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createBoundedShutdown, stoppedCleanly, type Schedule } from '../../gateway/app/bounded-shutdown.js';
import { createLogger } from '../../gateway/ops/logger.js';

function manualSchedule(): { schedule: Schedule; fire(ms: number): void; pending(): number[] } {
  const timers = new Set<{ ms: number; fire: () => void }>();
  return {
    schedule(ms, fire) {
      const timer = { ms, fire };
      timers.add(timer);
      return () => timers.delete(timer);
    },
    /** Fires every deadline due at `ms` into the stop. */
    fire(ms) {
      for (const timer of [...timers]) {
        if (timer.ms > ms) continue;
        timers.delete(timer);
        timer.fire();
      }
    },
    pending: () => [...timers].map((timer) => timer.ms).sort((a, b) => a - b),
  };
}

function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('bounded shutdown', () => {
  it('every step finished: a clean stop, and its deadlines are cleared', async () => {
    const clock = manualSchedule();
    const { logger, lines } = capturedLogger();
    const shutdown = createBoundedShutdown({ graceMs: 1000, logger, schedule: clock.schedule });
    // The phases end at 80 %, 90 % and 100 % of the grace.
    expect(clock.pending()).toEqual([800, 900, 1000]);
    const ran: string[] = [];
    await shutdown.step('api', 'drain', async () => ran.push('api'));
    await shutdown.step('journal', 'final', () => ran.push('journal'));
    const outcome = shutdown.finish();
    expect(ran).toEqual(['api', 'journal']);
    expect(outcome).toEqual({ abandoned: [], failed: [] });
    expect(stoppedCleanly(outcome)).toBe(true);
    expect(clock.pending()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('a step that hangs is abandoned when its phase ends, named in a warning, and the next steps still run', async () => {
    const clock = manualSchedule();
    const { logger, lines } = capturedLogger();
    const shutdown = createBoundedShutdown({ graceMs: 1000, logger, schedule: clock.schedule });
    let queueDeadline: AbortSignal | undefined;
    const queue = shutdown.step('queue', 'drain', (deadline) => {
      queueDeadline = deadline;
      return never();
    });
    clock.fire(800);
    expect(queueDeadline?.aborted).toBe(false);
    clock.fire(900);
    await queue;
    expect(queueDeadline?.aborted).toBe(true);
    let journalClosed = false;
    await shutdown.step('journal', 'final', async () => {
      journalClosed = true;
    });
    const outcome = shutdown.finish();
    expect(journalClosed).toBe(true);
    expect(outcome).toEqual({ abandoned: ['queue'], failed: [] });
    expect(stoppedCleanly(outcome)).toBe(false);
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'shutdown step abandoned', step: 'queue', graceMs: 1000 })]);
  });

  it('a step that gives up by rejecting with the deadline reason is abandoned, not failed', async () => {
    const clock = manualSchedule();
    const { logger } = capturedLogger();
    const shutdown = createBoundedShutdown({ graceMs: 1000, logger, schedule: clock.schedule });
    const queue = shutdown.step('queue', 'drain', (deadline) => new Promise((_resolve, reject) => deadline.addEventListener('abort', () => reject(deadline.reason))));
    clock.fire(900);
    await queue;
    expect(shutdown.finish()).toEqual({ abandoned: ['queue'], failed: [] });
  });

  it('a step that throws is reported as failed with its error, and the stop goes on', async () => {
    const clock = manualSchedule();
    const { logger, lines } = capturedLogger();
    const shutdown = createBoundedShutdown({ graceMs: 1000, logger, schedule: clock.schedule });
    await shutdown.step('ops', 'drain', () => {
      throw new Error('ops listener would not close');
    });
    await shutdown.step('journal', 'final', async () => undefined);
    expect(shutdown.finish()).toEqual({ abandoned: [], failed: ['ops'] });
    expect(lines).toEqual([expect.objectContaining({ level: 50, msg: 'shutdown step failed', step: 'ops', err: expect.objectContaining({ message: 'ops listener would not close' }) })]);
  });

  it('a step started after its phase ended is still run (to let go of what it holds) but not waited for, unless already done', async () => {
    const clock = manualSchedule();
    const { logger } = capturedLogger();
    const shutdown = createBoundedShutdown({ graceMs: 1000, logger, schedule: clock.schedule });
    clock.fire(1000);
    let released = false;
    await shutdown.step('queue', 'drain', (deadline) => {
      released = deadline.aborted;
      return never();
    });
    await shutdown.step('sealing-threads', 'final', () => undefined);
    expect(released).toBe(true);
    expect(shutdown.finish()).toEqual({ abandoned: ['queue'], failed: [] });
  });

  it('grace 0: every deadline is due at once', () => {
    const clock = manualSchedule();
    createBoundedShutdown({ graceMs: 0, logger: capturedLogger().logger, schedule: clock.schedule });
    expect(clock.pending()).toEqual([0, 0, 0]);
  });
});
