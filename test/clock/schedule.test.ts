// The system schedule on Node's real timers. Nothing here asserts how long anything took: each
// check waits for an event, and "did not run" is judged when a later-due timer fires (Node runs
// due timers in order of their due time), not after a sleep.
import { describe, expect, it } from 'vitest';
import { systemSchedule } from '../../gateway/clock/schedule.js';

const firedAfter = (ms: number): Promise<void> => new Promise((resolve) => systemSchedule.after(ms, resolve));

describe('systemSchedule', () => {
  it('runs an interval task again and again until cancelled', async () => {
    let runs = 0;
    let stop = (): void => undefined;
    await new Promise<void>((resolve) => {
      stop = systemSchedule.every(5, () => {
        runs += 1;
        if (runs === 3) resolve();
      });
    });
    stop();
    stop(); // cancelling twice is harmless
    await firedAfter(50); // due well after the next 5 ms tick would have been
    expect(runs).toBe(3);
  });

  it('runs a delayed task once, and not at all when cancelled before it is due', async () => {
    const ran: string[] = [];
    const cancel = systemSchedule.after(1, () => ran.push('cancelled'));
    systemSchedule.after(2, () => ran.push('kept'));
    cancel();
    await firedAfter(20);
    expect(ran).toEqual(['kept']);
  });
});
