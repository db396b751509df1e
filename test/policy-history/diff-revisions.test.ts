// diffRevisions: per file name of either revision, sorted, whether it was added, removed, changed or
// left the same, with unified-diff hunks (3 lines of context) for the ones that differ.
import { describe, expect, it } from 'vitest';
import { diffRevisions } from '../../gateway/policy-history/diff-revisions.js';
import type { PolicyFileText, PolicyRevisionRecord } from '../../gateway/policy-history/policy-history.js';

const revision = (id: string, files: PolicyFileText[]): PolicyRevisionRecord => ({ revision: id.repeat(64), firstAcceptedAt: '2026-12-01T08:00:00.000Z', files });
const lines = (...texts: string[]): string => texts.map((text) => `${text}\n`).join('');

describe('diffRevisions', () => {
  const older = revision('a', [
    { name: '20-same.policy.yaml', text: lines('rules: []') },
    { name: '30-hgr.policy.yaml', text: lines('rules:', '  - id: hgr-export', '    effect: allow', '    basis: 人类遗传资源管理条例', 'x', 'y', 'z', 'w') },
    { name: '10-gone.policy.yaml', text: lines('old: 1', 'old: 2') },
  ]);
  const newer = revision('b', [
    { name: '30-hgr.policy.yaml', text: lines('rules:', '  - id: hgr-export', '    effect: deny', '    basis: 人类遗传资源管理条例', 'x', 'y', 'z', 'w') },
    { name: '20-same.policy.yaml', text: lines('rules: []') },
    { name: '40-new.policy.yaml', text: lines('new: 1') },
  ]);

  it('names every file of either revision once, sorted, with how it changed', () => {
    expect(diffRevisions(older, newer).map(({ name, change }) => [name, change])).toEqual([
      ['10-gone.policy.yaml', 'removed'],
      ['20-same.policy.yaml', 'same'],
      ['30-hgr.policy.yaml', 'changed'],
      ['40-new.policy.yaml', 'added'],
    ]);
  });

  it("shows a changed line as '-' then '+', inside 3 lines of context", () => {
    const changed = diffRevisions(older, newer).find((file) => file.name === '30-hgr.policy.yaml');
    expect(changed?.hunks).toEqual([
      {
        oldStart: 1,
        oldLines: 6,
        newStart: 1,
        newLines: 6,
        lines: [
          { kind: ' ', text: 'rules:' },
          { kind: ' ', text: '  - id: hgr-export' },
          { kind: '-', text: '    effect: allow' },
          { kind: '+', text: '    effect: deny' },
          { kind: ' ', text: '    basis: 人类遗传资源管理条例' },
          { kind: ' ', text: 'x' },
          { kind: ' ', text: 'y' },
        ],
      },
    ]);
  });

  it("shows an added file as all '+', a removed one as all '-', the same one without hunks", () => {
    const [removed, same, , added] = diffRevisions(older, newer);
    expect(removed?.hunks.flatMap((hunk) => hunk.lines)).toEqual([
      { kind: '-', text: 'old: 1' },
      { kind: '-', text: 'old: 2' },
    ]);
    expect(added?.hunks.flatMap((hunk) => hunk.lines)).toEqual([{ kind: '+', text: 'new: 1' }]);
    expect(same?.hunks).toEqual([]);
  });

  it('flags the line that lacks a final newline instead of passing the marker on as a line', () => {
    const [file] = diffRevisions(revision('a', [{ name: 'p.yaml', text: 'a\nb' }]), revision('b', [{ name: 'p.yaml', text: 'a\nb\n' }]));
    expect(file?.change).toBe('changed');
    expect(file?.hunks[0]?.lines).toEqual([
      { kind: ' ', text: 'a' },
      { kind: '-', text: 'b', noNewlineAtEnd: true },
      { kind: '+', text: 'b' },
    ]);
  });
});
