// Reloads on real file changes (real files, the real folder watcher), with the debounce run by
// hand: a burst of file events leaves one pending reload, which applies the file as it is when it
// runs. No sleeping on the settle time.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReloadable, watchFile, type Reloadable } from '../../gateway/reload/reloadable.js';
import { createManualSchedule, type ManualSchedule } from '../support/manual-schedule.js';

let dir: string;
let file: string;
let reloadable: Reloadable<string> | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-reloadable-'));
  file = path.join(dir, 'registry.yaml');
  await writeFile(file, 'v1');
});
afterEach(async () => {
  reloadable?.close();
  reloadable = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function watched(schedule: ManualSchedule, applied: string[]): Promise<Reloadable<string>> {
  reloadable = await createReloadable({
    name: 'registry',
    watch: [watchFile(file)],
    load: () => readFile(file, 'utf8'),
    revisionOf: (value) => value,
    watchFiles: true,
    settleMs: 150,
    schedule,
    onReloaded: ({ before, after }) => void applied.push(`${before}→${after}`),
  });
  return reloadable;
}

describe('reloadable on file changes', () => {
  it('debounces a burst of changes into one reload, which applies the file as it then is', async () => {
    const schedule = createManualSchedule();
    const applied: string[] = [];
    const registry = await watched(schedule, applied);
    await writeFile(file, 'v2');
    await writeFile(file, 'v3');
    await vi.waitFor(() => expect(schedule.delays()).toEqual([150]), { timeout: 10_000, interval: 10 });
    expect(registry.current()).toBe('v1'); // nothing happens before the settle time is up
    await schedule.runDue();
    expect(registry.current()).toBe('v3');
    expect(applied).toEqual(['v1→v3']);
  });

  it('closing cancels a pending reload', async () => {
    const schedule = createManualSchedule();
    const applied: string[] = [];
    const registry = await watched(schedule, applied);
    await writeFile(file, 'v2');
    await vi.waitFor(() => expect(schedule.delays()).toEqual([150]), { timeout: 10_000, interval: 10 });
    registry.close();
    expect(schedule.delays()).toEqual([]);
    expect(registry.current()).toBe('v1');
    expect(applied).toEqual([]);
  });
});
