// Refusals in the journal, bounded: the first of each principal + route + code per window is written
// at once, its repeats become one entry with their count when the window ends — on a real journal.
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { createRefusalJournal, REFUSAL_EVENT, type Refusal } from '../../gateway/audit/refusal-journal.js';
import { collect, fakeClock, linesOf, openJournal, tempDir } from './support.js';

let dir: string;
let journal: AuditJournal;
afterEach(async () => {
  await journal?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function refusalEntries(): Promise<{ actor: { id: string }; details: Record<string, unknown> }[]> {
  const lines = linesOf(await collect(journal.exportRange()));
  return lines
    .map((line) => JSON.parse(line) as { entry?: { type: string; actor: { id: string }; details: Record<string, unknown> } })
    .flatMap((line) => (line.entry?.type === REFUSAL_EVENT ? [line.entry] : []));
}

const WINDOW = 60_000;
const officerOnExport: Refusal = { actor: { kind: 'person', id: 'officer-chan' }, method: 'GET', route: '/v1/audit/export', code: 'ERR_IDENTITY_ROLE_FORBIDDEN' };
const unregistered: Refusal = { certificateSha256: 'ab'.repeat(32), method: 'GET', route: '/v1/whoami', code: 'ERR_IDENTITY_NOT_REGISTERED' };

describe('refusal journal', () => {
  it('writes the first refusal at once and one entry with the count of its repeats when the window ends', async () => {
    dir = await tempDir();
    journal = await openJournal(dir);
    const time = fakeClock();
    const refusals = createRefusalJournal({ append: (event) => journal.append(event), clock: time.clock, windowMs: WINDOW });
    for (let i = 0; i < 500; i += 1) await refusals.record(officerOnExport);
    const [first, ...others] = await refusalEntries();
    expect(others).toEqual([]);
    expect(first?.actor).toEqual({ kind: 'person', id: 'officer-chan' });
    expect(first?.details).toEqual({ method: 'GET', route: '/v1/audit/export', code: 'ERR_IDENTITY_ROLE_FORBIDDEN', count: 1 });

    await refusals.flush();
    expect(await refusalEntries()).toHaveLength(1); // the window has not ended
    time.advance(WINDOW);
    await refusals.flush();
    const [, repeats] = await refusalEntries();
    expect(repeats?.details).toMatchObject({ code: 'ERR_IDENTITY_ROLE_FORBIDDEN', route: '/v1/audit/export', count: 499, repeatsFrom: '2025-03-01T08:00:00.000Z', repeatsUntil: '2025-03-01T08:01:00.000Z' });
    expect(journal.status().size).toBe(2);
  });

  it('keeps principals, routes and codes apart, and names an unregistered caller by its certificate', async () => {
    dir = await tempDir();
    journal = await openJournal(dir);
    const time = fakeClock();
    const refusals = createRefusalJournal({ append: (event) => journal.append(event), clock: time.clock, windowMs: WINDOW });
    await Promise.all([refusals.record(officerOnExport), refusals.record(unregistered), refusals.record({ ...officerOnExport, route: '/v1/transfers' }), refusals.record(unregistered)]);
    const entries = await refusalEntries();
    expect(entries).toHaveLength(3);
    expect(entries.find((entry) => entry.details.code === 'ERR_IDENTITY_NOT_REGISTERED')).toMatchObject({ actor: { id: 'gateway' }, details: { certificateSha256: 'ab'.repeat(32), count: 1 } });
  });

  it('starts a new window after the old one ended, writing the old window’s repeats first', async () => {
    dir = await tempDir();
    journal = await openJournal(dir);
    const time = fakeClock();
    const refusals = createRefusalJournal({ append: (event) => journal.append(event), clock: time.clock, windowMs: WINDOW });
    await refusals.record(officerOnExport);
    await refusals.record(officerOnExport);
    time.advance(WINDOW + 1);
    await refusals.record(officerOnExport);
    expect((await refusalEntries()).map((entry) => entry.details.count)).toEqual([1, 1, 1]);
    await refusals.flush({ all: true });
    expect((await refusalEntries()).map((entry) => entry.details.count)).toEqual([1, 1, 1]); // no repeats in the new window
  });
});
