// The witness state port's contract: what every WitnessState (gateway/witness/witness-state.ts) does,
// run by test/ports/witness-state.test.ts against each implementation. Per origin it holds the last
// checkpoint cosigned; it moves only by compare-and-store on the size held (0 when none), so of
// several stores racing from one size exactly one wins and the others learn the size it stored; a
// miss changes nothing; what was stored survives a reopen.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WitnessedCheckpoint, WitnessState } from '../../gateway/witness/witness-state.js';

export interface WitnessStateUnderTest {
  /** A state that holds nothing. */
  readonly state: WitnessState;
  /** Closes the state given and opens another on the same storage (as after a restart). */
  reopen(state: WitnessState): Promise<WitnessState>;
  /** Closes what the harness opened besides the states and removes what they left behind. */
  cleanup(): Promise<void>;
}

export const ORIGIN = 'gateway.sz.hetao.example/audit';
const START = Date.parse('2025-03-01T08:00:00.000Z');

/** A checkpoint of `origin` at `treeSize` as the witness stores it; `variant` changes its root (another view). */
export function witnessed(treeSize: number, variant = 0, origin = ORIGIN): WitnessedCheckpoint {
  const rootHash = createHash('sha256').update(`${origin} ${treeSize} ${variant}`).digest('base64');
  return {
    origin,
    treeSize,
    rootHash,
    checkpoint: `${origin}\n${treeSize}\n${rootHash}\n\n— ${origin} c2lnbmF0dXJl\n`,
    cosignedAt: new Date(START + treeSize * 1000 + variant).toISOString(),
  };
}

export function describeWitnessStateContract(name: string, open: () => Promise<WitnessStateUnderTest>): void {
  describe(`${name}: the witness state contract`, () => {
    let harness: WitnessStateUnderTest;
    let state: WitnessState;
    beforeEach(async () => {
      harness = await open();
      state = harness.state;
    });
    afterEach(async () => {
      await state.close();
      await harness.cleanup();
    });

    it('holds nothing for an origin never stored', async () => {
      expect(await state.get(ORIGIN)).toBeUndefined();
    });

    it('stores the first checkpoint only when expecting size 0, and gets it back whole', async () => {
      expect(await state.compareAndStore(ORIGIN, 5, witnessed(9))).toEqual({ stored: false, currentSize: 0 });
      expect(await state.get(ORIGIN)).toBeUndefined();
      expect(await state.compareAndStore(ORIGIN, 0, witnessed(5))).toEqual({ stored: true });
      expect(await state.get(ORIGIN)).toEqual(witnessed(5));
    });

    it('a miss says the size held and changes nothing; a store from that size moves on', async () => {
      await state.compareAndStore(ORIGIN, 0, witnessed(10));
      expect(await state.compareAndStore(ORIGIN, 0, witnessed(12))).toEqual({ stored: false, currentSize: 10 });
      expect(await state.compareAndStore(ORIGIN, 7, witnessed(12))).toEqual({ stored: false, currentSize: 10 });
      expect(await state.compareAndStore(ORIGIN, 11, witnessed(12))).toEqual({ stored: false, currentSize: 10 });
      expect(await state.get(ORIGIN)).toEqual(witnessed(10));
      expect(await state.compareAndStore(ORIGIN, 10, witnessed(12))).toEqual({ stored: true });
      expect(await state.get(ORIGIN)).toEqual(witnessed(12));
      // The same size again (a checkpoint cosigned anew) is a store from that size.
      expect(await state.compareAndStore(ORIGIN, 12, witnessed(12, 0))).toEqual({ stored: true });
    });

    it('an empty tree cosigned (size 0) is the size 0 a first store expects', async () => {
      expect(await state.compareAndStore(ORIGIN, 0, witnessed(0))).toEqual({ stored: true });
      expect(await state.get(ORIGIN)).toEqual(witnessed(0));
      expect(await state.compareAndStore(ORIGIN, 0, witnessed(3))).toEqual({ stored: true });
      expect(await state.compareAndStore(ORIGIN, 0, witnessed(4))).toEqual({ stored: false, currentSize: 3 });
    });

    it('keeps origins apart, slashes and all', async () => {
      const other = 'gateway.hk.hetao.example/audit';
      await state.compareAndStore(ORIGIN, 0, witnessed(4));
      expect(await state.get(other)).toBeUndefined();
      expect(await state.compareAndStore(other, 4, witnessed(6, 0, other))).toEqual({ stored: false, currentSize: 0 });
      expect(await state.compareAndStore(other, 0, witnessed(6, 0, other))).toEqual({ stored: true });
      expect(await state.get(ORIGIN)).toEqual(witnessed(4));
      expect(await state.get(other)).toEqual(witnessed(6, 0, other));
    });

    it("refuses to store one origin's checkpoint under another", async () => {
      await expect(state.compareAndStore('another.example/log', 0, witnessed(1))).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
      expect(await state.get('another.example/log')).toBeUndefined();
    });

    it('of stores racing from one size, exactly one wins and the others learn its size', async () => {
      for (const from of [0, 20]) {
        if (from > 0) await state.compareAndStore(ORIGIN, (await state.get(ORIGIN))?.treeSize ?? 0, witnessed(from));
        const sizes = [from + 1, from + 2, from + 3, from + 4, from + 5, from + 6, from + 7, from + 8];
        const outcomes = await Promise.all(sizes.map((size) => state.compareAndStore(ORIGIN, from, witnessed(size))));
        const winners = sizes.filter((_, i) => outcomes[i]?.stored);
        expect(winners).toHaveLength(1);
        const winner = winners[0] as number;
        expect(outcomes.filter((outcome) => !outcome.stored)).toEqual(Array.from({ length: sizes.length - 1 }, () => ({ stored: false, currentSize: winner })));
        expect(await state.get(ORIGIN)).toEqual(witnessed(winner));
      }
    });

    it('keeps what it stored across a reopen, and goes on from it', async () => {
      await state.compareAndStore(ORIGIN, 0, witnessed(3));
      await state.compareAndStore(ORIGIN, 3, witnessed(8));
      state = await harness.reopen(state);
      expect(await state.get(ORIGIN)).toEqual(witnessed(8));
      expect(await state.compareAndStore(ORIGIN, 3, witnessed(9))).toEqual({ stored: false, currentSize: 8 });
      expect(await state.compareAndStore(ORIGIN, 8, witnessed(9))).toEqual({ stored: true });
      state = await harness.reopen(state);
      expect(await state.get(ORIGIN)).toEqual(witnessed(9));
    });
  });
}
