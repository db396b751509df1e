// The flows port's contract (flows/flow-counts.ts), run against each implementation by
// flow-counts.test.ts: counts add up per key, a query returns only its days and institution, counts
// survive a reopen, and concurrent adds lose none.
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowCounts, FlowKey } from '../../gateway/flows/flow-counts.js';

export interface FlowCountsUnderTest {
  readonly flows: FlowCounts;
  reopen(flows: FlowCounts): Promise<FlowCounts>;
  cleanup(): Promise<void>;
}

const key = (overrides: Partial<FlowKey> = {}): FlowKey => ({ day: '2026-12-01', category: 'genomics', direction: 'CN→HK', outcome: 'allowed', sender: 'sz-hospital', recipient: 'hk-uni-genomics', ...overrides });

export function describeFlowCountsContract(name: string, open: () => Promise<FlowCountsUnderTest>): void {
  describe(`${name} (flow counts contract)`, () => {
    let under: FlowCountsUnderTest | undefined;
    afterEach(async () => {
      await under?.flows.close();
      await under?.cleanup();
      under = undefined;
    });

    it('adds transfers and bytes per key; other keys apart', async () => {
      under = await open();
      await under.flows.add(key(), 100);
      await under.flows.add(key(), 50);
      await under.flows.add(key({ outcome: 'denied' }), 7);
      const rows = await under.flows.query({ from: '2026-12-01', to: '2026-12-01' });
      expect(rows).toHaveLength(2);
      expect(rows.find((row) => row.outcome === 'allowed')).toMatchObject({ ...key(), transfers: 2, bytes: 150 });
      expect(rows.find((row) => row.outcome === 'denied')).toMatchObject({ transfers: 1, bytes: 7 });
    });

    it('answers only the days asked, inclusive, and only the institution asked (as sender or recipient)', async () => {
      under = await open();
      await under.flows.add(key({ day: '2026-11-30' }), 1);
      await under.flows.add(key({ day: '2026-12-01' }), 1);
      await under.flows.add(key({ day: '2026-12-03' }), 1);
      await under.flows.add(key({ day: '2026-12-02', sender: 'hk-ctc', recipient: 'hetao-sz-institute' }), 1);
      expect((await under.flows.query({ from: '2026-12-01', to: '2026-12-02' })).map((row) => row.day).sort()).toEqual(['2026-12-01', '2026-12-02']);
      expect((await under.flows.query({ from: '2026-11-01', to: '2026-12-31', institution: 'hetao-sz-institute' })).map((row) => row.sender)).toEqual(['hk-ctc']);
      expect(await under.flows.query({ from: '2026-11-01', to: '2026-12-31', institution: 'nobody' })).toEqual([]);
    });

    it('keeps its counts across a reopen', async () => {
      under = await open();
      await under.flows.add(key(), 10);
      const reopened = await under.reopen(under.flows);
      under = { ...under, flows: reopened };
      await reopened.add(key(), 5);
      expect(await reopened.query({ from: '2026-12-01', to: '2026-12-01' })).toEqual([expect.objectContaining({ transfers: 2, bytes: 15 })]);
    });

    it('loses none of many adds at once', async () => {
      under = await open();
      const flows = under.flows;
      await Promise.all(Array.from({ length: 50 }, (_, i) => flows.add(key({ outcome: i % 2 === 0 ? 'allowed' : 'received' }), i)));
      const rows = await flows.query({ from: '2026-12-01', to: '2026-12-01' });
      expect(rows.reduce((sum, row) => sum + row.transfers, 0)).toBe(50);
      expect(rows.reduce((sum, row) => sum + row.bytes, 0)).toBe((49 * 50) / 2);
    });
  });
}

/** The summary's contract, run with the rest by describeFlowCountsContract's callers. */
export function describeFlowSummaryContract(name: string, open: () => Promise<FlowCountsUnderTest>): void {
  describe(`${name} (flow summary contract)`, () => {
    let under: FlowCountsUnderTest | undefined;
    afterEach(async () => {
      await under?.flows.close();
      await under?.cleanup();
      under = undefined;
    });

    it('sums the period by category, by direction and by day or ISO week (its Monday), per outcome; only the institution asked', async () => {
      under = await open();
      const flows = under.flows;
      // 2026-11-30 is a Monday; 2026-12-06 the Sunday of the same week; 2026-12-07 the next Monday.
      await flows.add(key({ day: '2026-11-30' }), 10);
      await flows.add(key({ day: '2026-12-06', category: 'medical-records' }), 20);
      await flows.add(key({ day: '2026-12-06', outcome: 'denied', direction: 'HK→CN', sender: 'hk-ctc', recipient: 'sz-hospital' }), 5);
      await flows.add(key({ day: '2026-12-07' }), 40);
      await flows.add(key({ day: '2026-12-08' }), 1); // outside the period
      const daily = await flows.summary({ from: '2026-11-30', to: '2026-12-07', bucket: 'day' });
      expect(daily.byCategory).toEqual({ genomics: { allowed: { transfers: 2, bytes: 50 }, denied: { transfers: 1, bytes: 5 } }, 'medical-records': { allowed: { transfers: 1, bytes: 20 } } });
      expect(daily.byDirection).toEqual({ 'CN→HK': { allowed: { transfers: 3, bytes: 70 } }, 'HK→CN': { denied: { transfers: 1, bytes: 5 } } });
      expect(daily.byPeriod).toEqual({ '2026-11-30': { allowed: { transfers: 1, bytes: 10 } }, '2026-12-06': { allowed: { transfers: 1, bytes: 20 }, denied: { transfers: 1, bytes: 5 } }, '2026-12-07': { allowed: { transfers: 1, bytes: 40 } } });
      const weekly = await flows.summary({ from: '2026-11-30', to: '2026-12-07', bucket: 'week' });
      expect(weekly.byPeriod).toEqual({ '2026-11-30': { allowed: { transfers: 2, bytes: 30 }, denied: { transfers: 1, bytes: 5 } }, '2026-12-07': { allowed: { transfers: 1, bytes: 40 } } });
      const ofOne = await flows.summary({ from: '2026-11-30', to: '2026-12-07', bucket: 'day', institution: 'hk-ctc' });
      expect(ofOne.byDirection).toEqual({ 'HK→CN': { denied: { transfers: 1, bytes: 5 } } });
    });
  });
}
