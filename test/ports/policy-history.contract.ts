// The policy history port's contract (policy-history/policy-history.ts), run against each
// implementation by policy-history.test.ts: revisions kept once with their files' exact text and
// listed newest first with each file's hash, reloads of both outcomes listed newest first, limits
// honoured, everything there again after a reopen, and concurrent appends lose none.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyFileText, PolicyHistory, PolicyReloadRecord } from '../../gateway/policy-history/policy-history.js';

export interface PolicyHistoryUnderTest {
  readonly history: PolicyHistory;
  /** Closes `history` and opens another instance on the same folder or database. */
  reopen(history: PolicyHistory): Promise<PolicyHistory>;
  cleanup(): Promise<void>;
}

const revisionOf = (seed: string): string => createHash('sha256').update(seed).digest('hex');
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const HGR_TEXT = '# 人类遗传资源 (human genetic resources)\nrules:\n  - id: hgr-export\n    effect: deny\n';
const ZONE_TEXT = 'rules:\r\n  - id: zone-default\r\n    effect: allow';
const FILES: readonly PolicyFileText[] = [
  { name: '30-hgr.policy.yaml', text: HGR_TEXT },
  { name: '10-zone.policy.yaml', text: ZONE_TEXT },
];

const applied = (at: string, before: string, after: string): PolicyReloadRecord => ({ at, trigger: 'officer:p-0042', outcome: 'applied', before, after });
const rejected = (at: string): PolicyReloadRecord => ({
  at,
  trigger: 'sighup',
  outcome: 'rejected',
  code: 'ERR_POLICY_RELOAD_REJECTED',
  problems: [
    { file: '30-hgr.policy.yaml', line: 12, path: '/rules/0/when', message: 'unknown fact “hgr.category”' },
    { file: '10-zone.policy.yaml', message: 'not valid YAML' },
  ],
});

export function describePolicyHistoryContract(name: string, open: () => Promise<PolicyHistoryUnderTest>): void {
  describe(`${name} (policy history contract)`, () => {
    let under: PolicyHistoryUnderTest | undefined;
    afterEach(async () => {
      await under?.history.close();
      await under?.cleanup();
      under = undefined;
    });

    it("keeps a revision with its files' exact text, in their order (non-ASCII, CRLF, with and without a trailing newline)", async () => {
      under = await open();
      const revision = revisionOf('a');
      await under.history.keepRevision({ revision, at: '2026-12-01T08:00:00.000Z', files: FILES });
      const kept = await under.history.revision(revision);
      expect(kept).toEqual({ revision, firstAcceptedAt: '2026-12-01T08:00:00.000Z', files: FILES });
      expect(kept?.files[0]?.text).toBe(HGR_TEXT);
      expect(kept?.files[0]?.text.endsWith('\n')).toBe(true);
      expect(kept?.files[1]?.text).toBe(ZONE_TEXT);
    });

    it('keeps a revision once: a second keep (another time, other texts) changes nothing', async () => {
      under = await open();
      const revision = revisionOf('a');
      await under.history.keepRevision({ revision, at: '2026-12-01T08:00:00.000Z', files: FILES });
      await under.history.keepRevision({ revision, at: '2026-12-05T09:30:00.000Z', files: [{ name: '30-hgr.policy.yaml', text: 'changed\n' }] });
      expect(await under.history.revisions()).toEqual([{ revision, firstAcceptedAt: '2026-12-01T08:00:00.000Z', files: FILES.map((file) => ({ name: file.name, sha256: sha256(file.text) })) }]);
      expect((await under.history.revision(revision))?.files).toEqual(FILES);
    });

    it("lists revisions newest first (ties: the later kept first), each file named with its text's SHA-256 and no text", async () => {
      under = await open();
      const history = under.history;
      const [oldest, middle, tiedFirst, tiedSecond] = [revisionOf('1'), revisionOf('2'), revisionOf('3'), revisionOf('4')];
      await history.keepRevision({ revision: middle, at: '2026-12-02T00:00:00.000Z', files: [{ name: 'b.policy.yaml', text: 'b\n' }] });
      await history.keepRevision({ revision: oldest, at: '2026-12-01T00:00:00.000Z', files: FILES });
      await history.keepRevision({ revision: tiedFirst, at: '2026-12-03T00:00:00.000Z', files: [] });
      await history.keepRevision({ revision: tiedSecond, at: '2026-12-03T00:00:00.000Z', files: [{ name: 'c.policy.yaml', text: '' }] });
      const listed = await history.revisions();
      expect(listed.map((entry) => entry.revision)).toEqual([tiedSecond, tiedFirst, middle, oldest]);
      expect(listed[3]).toEqual({ revision: oldest, firstAcceptedAt: '2026-12-01T00:00:00.000Z', files: [{ name: '30-hgr.policy.yaml', sha256: sha256(HGR_TEXT) }, { name: '10-zone.policy.yaml', sha256: sha256(ZONE_TEXT) }] });
      expect(listed[0]?.files).toEqual([{ name: 'c.policy.yaml', sha256: sha256('') }]);
      expect(listed[1]?.files).toEqual([]);
      expect(JSON.stringify(listed)).not.toContain('人类遗传资源');
    });

    it('answers undefined for a revision it never kept, or a string that is no revision', async () => {
      under = await open();
      await under.history.keepRevision({ revision: revisionOf('a'), at: '2026-12-01T08:00:00.000Z', files: FILES });
      expect(await under.history.revision('unknown')).toBeUndefined();
      expect(await under.history.revision(revisionOf('b'))).toBeUndefined();
      expect(await under.history.revision('../reloads')).toBeUndefined();
    });

    it('normalizes instants to Date#toISOString form and refuses a malformed revision or instant', async () => {
      under = await open();
      const revision = revisionOf('a');
      await under.history.keepRevision({ revision, at: '2026-12-01T16:00:00+08:00', files: [] });
      await under.history.recordReload(applied('2026-12-01T16:00:01+08:00', revisionOf('0'), revision));
      expect((await under.history.revision(revision))?.firstAcceptedAt).toBe('2026-12-01T08:00:00.000Z');
      expect((await under.history.reloads())[0]?.at).toBe('2026-12-01T08:00:01.000Z');
      await expect(under.history.keepRevision({ revision: 'not-a-revision', at: '2026-12-01T08:00:00.000Z', files: [] })).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
      await expect(under.history.keepRevision({ revision: revisionOf('b'), at: 'yesterday', files: [] })).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
      expect(await under.history.revisions()).toHaveLength(1);
    });

    it('lists reload attempts newest first, both outcomes; a rejected one keeps its code and problems (file, line, path)', async () => {
      under = await open();
      const history = under.history;
      const [a, b] = [revisionOf('a'), revisionOf('b')];
      await history.recordReload(applied('2026-12-01T08:00:00.000Z', a, b));
      await history.recordReload(rejected('2026-12-02T08:00:00.000Z'));
      await history.recordReload(applied('2026-12-01T12:00:00.000Z', b, a)); // recorded late, earlier instant
      await history.recordReload({ ...applied('2026-12-02T08:00:00.000Z', a, a), trigger: 'file-change' }); // same instant, recorded later
      expect(await history.reloads()).toEqual([
        { ...applied('2026-12-02T08:00:00.000Z', a, a), trigger: 'file-change' },
        rejected('2026-12-02T08:00:00.000Z'),
        applied('2026-12-01T12:00:00.000Z', b, a),
        applied('2026-12-01T08:00:00.000Z', a, b),
      ]);
      const [, problem] = await history.reloads({ limit: 2 });
      expect(problem).toMatchObject({ outcome: 'rejected', code: 'ERR_POLICY_RELOAD_REJECTED', problems: [{ file: '30-hgr.policy.yaml', line: 12 }, { file: '10-zone.policy.yaml' }] });
      expect(problem?.outcome === 'rejected' && 'line' in (problem.problems[1] ?? {})).toBe(false);
    });

    it('honours the limit (default 50) and refuses one that is not a positive integer', async () => {
      under = await open();
      const history = under.history;
      for (let i = 0; i < 55; i += 1) await history.recordReload(applied(new Date(Date.UTC(2026, 11, 1, 0, i)).toISOString(), revisionOf('a'), revisionOf('b')));
      for (let i = 0; i < 3; i += 1) await history.keepRevision({ revision: revisionOf(String(i)), at: new Date(Date.UTC(2026, 11, 1 + i)).toISOString(), files: [] });
      expect(await history.reloads()).toHaveLength(50);
      const two = await history.reloads({ limit: 2 });
      expect(two.map((reload) => reload.at)).toEqual(['2026-12-01T00:54:00.000Z', '2026-12-01T00:53:00.000Z']);
      expect(await history.reloads({ limit: 100 })).toHaveLength(55);
      expect((await history.revisions({ limit: 2 })).map((entry) => entry.revision)).toEqual([revisionOf('2'), revisionOf('1')]);
      await expect(history.reloads({ limit: 0 })).rejects.toMatchObject({ code: 'ERR_REQUEST_INVALID' });
      await expect(history.revisions({ limit: 1.5 })).rejects.toMatchObject({ code: 'ERR_REQUEST_INVALID' });
    });

    it('keeps everything across a reopen, and goes on after it', async () => {
      under = await open();
      const revision = revisionOf('a');
      await under.history.keepRevision({ revision, at: '2026-12-01T08:00:00.000Z', files: FILES });
      await under.history.recordReload(rejected('2026-12-01T07:00:00.000Z'));
      await under.history.recordReload(applied('2026-12-01T08:00:00.000Z', revisionOf('0'), revision));
      const reopened = await under.reopen(under.history);
      under = { ...under, history: reopened };
      expect(await reopened.revision(revision)).toEqual({ revision, firstAcceptedAt: '2026-12-01T08:00:00.000Z', files: FILES });
      expect(await reopened.reloads()).toEqual([applied('2026-12-01T08:00:00.000Z', revisionOf('0'), revision), rejected('2026-12-01T07:00:00.000Z')]);
      // Kept again after the reopen: still the first time. A new one at the same instant lists first.
      await reopened.keepRevision({ revision, at: '2026-12-09T08:00:00.000Z', files: [] });
      const next = revisionOf('b');
      await reopened.keepRevision({ revision: next, at: '2026-12-01T08:00:00.000Z', files: [] });
      expect((await reopened.revisions()).map((entry) => [entry.revision, entry.firstAcceptedAt])).toEqual([
        [next, '2026-12-01T08:00:00.000Z'],
        [revision, '2026-12-01T08:00:00.000Z'],
      ]);
      await reopened.recordReload(applied('2026-12-01T09:00:00.000Z', revision, next));
      expect(await reopened.reloads()).toHaveLength(3);
    });

    it('loses none of 30 reloads recorded at once, nor of revisions kept at once', async () => {
      under = await open();
      const history = under.history;
      await Promise.all([
        ...Array.from({ length: 30 }, (_, i) => history.recordReload(i % 3 === 0 ? rejected(new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString()) : applied(new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(), revisionOf(String(i)), revisionOf(String(i + 1))))),
        ...Array.from({ length: 6 }, (_, i) => history.keepRevision({ revision: revisionOf(String(i % 3)), at: new Date(Date.UTC(2026, 11, 1, i)).toISOString(), files: FILES })),
      ]);
      const reloads = await history.reloads({ limit: 100 });
      expect(reloads).toHaveLength(30);
      expect(new Set(reloads.map((reload) => reload.at)).size).toBe(30);
      expect(reloads.filter((reload) => reload.outcome === 'rejected')).toHaveLength(10);
      expect(reloads[0]?.at).toBe('2026-12-01T00:00:29.000Z');
      expect((await history.revisions()).map((entry) => entry.revision).sort()).toEqual([revisionOf('0'), revisionOf('1'), revisionOf('2')].sort());
    });
  });
}
