// Group commit on its own: what arrives during a flush goes out together in the next one; a failed
// flush rejects exactly the items it carried.
import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../gateway/audit/group-commit.js';

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

describe('createGroupCommit', () => {
  it('batches submissions that arrive while a flush is in flight', async () => {
    const flushed: number[][] = [];
    const commit = createGroupCommit<number>(async (items) => {
      flushed.push([...items]);
      await tick();
    });
    const first = commit.submit(0); // starts a flush alone
    const rest = [1, 2, 3, 4].map((n) => commit.submit(n)); // wait for it, then go together
    await Promise.all([first, ...rest]);
    expect(flushed).toEqual([[0], [1, 2, 3, 4]]);
    expect(commit.stats()).toEqual({ flushes: 2, items: 5, largestBatch: 4 });
  });

  it('resolves a submission only after the flush carrying it completed', async () => {
    let completed = 0;
    const commit = createGroupCommit<number>(async (items) => {
      await tick();
      completed += items.length;
    });
    await commit.submit(1);
    expect(completed).toBe(1);
  });

  it('rejects the items of a failed flush, and flushes later ones again', async () => {
    let calls = 0;
    const commit = createGroupCommit<string>(async (items) => {
      calls += 1;
      await tick();
      if (items.includes('bad')) throw new Error('disk full');
    });
    const good = commit.submit('ok-1');
    const doomed = [commit.submit('bad'), commit.submit('ok-2')];
    await expect(good).resolves.toBeUndefined();
    for (const submission of doomed) await expect(submission).rejects.toThrow('disk full');
    await expect(commit.submit('ok-3')).resolves.toBeUndefined();
    await commit.idle();
    expect(calls).toBe(3);
  });

  it('with rejoin, callers that submit again as soon as they are resolved go out together in the next flush', async () => {
    const run = async (rejoin: boolean): Promise<number[][]> => {
      const flushed: number[][] = [];
      const commit = createGroupCommit<number>(
        async (items) => {
          flushed.push([...items]);
          await tick();
        },
        { rejoin },
      );
      // Four callers, each submitting three times in a row.
      await Promise.all([0, 1, 2, 3].map(async (caller) => {
        for (let round = 0; round < 3; round += 1) await commit.submit(10 * caller + round);
      }));
      return flushed;
    };
    expect(await run(true)).toEqual([[0], [10, 20, 30, 1], [11, 21, 31, 2], [12, 22, 32]]);
    // Without it the first caller's next submission misses the flush that starts as it is resolved.
    expect(await run(false)).toEqual([[0], [10, 20, 30], [1], [11, 21, 31], [2], [12, 22, 32]]);
  });

  it('caps a batch at maxBatch items', async () => {
    const sizes: number[] = [];
    const commit = createGroupCommit<number>(async (items) => {
      sizes.push(items.length);
      await tick();
    }, 3);
    await Promise.all(Array.from({ length: 8 }, (_, i) => commit.submit(i)));
    expect(sizes).toEqual([1, 3, 3, 1]);
  });
});
