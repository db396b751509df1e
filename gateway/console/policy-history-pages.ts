// The policy history in the console: every accepted revision (with its files), what changed between
// two of them, and every reload with its outcome — for files refused, each problem as file:line.
// Server-rendered from the policy service's history (GET /v1/policies/revisions, …/reloads).
import type { PolicyFileDiff } from '../policy-history/diff-revisions.js';
import type { PolicyReloadRecord, PolicyRevisionRecord, PolicyRevisionSummary } from '../policy-history/policy-history.js';
import { html } from './html.js';
import { page, type Viewer } from './console-pages.js';

const short = (revision: string) => revision.slice(0, 16);
const revisionLink = (revision: string) => html`<a href="/console/policies/revisions/${revision}"><code>${short(revision)}</code></a>`;

function reloadRow(reload: PolicyReloadRecord) {
  const what =
    reload.outcome === 'applied'
      ? html`${revisionLink(reload.before)} → ${revisionLink(reload.after)} (<a href="/console/policies/diff?from=${reload.before}&amp;to=${reload.after}">what changed</a>)`
      : html`<code>${reload.code}</code>; the previous set stayed in force.<ul>${reload.problems.map((problem) => html`<li><code>${problem.file}:${problem.line ?? '?'}</code>${problem.path ? html` <code>${problem.path}</code>` : ''} — ${problem.message}</li>`)}</ul>`;
  return html`<tr class="reload-${reload.outcome}"><td>${reload.at}</td><td>${reload.trigger}</td><td class="${reload.outcome === 'applied' ? 'effect-allow' : 'effect-deny'}">${reload.outcome}</td><td>${what}</td></tr>`;
}

export function policyHistoryPage(viewer: Viewer, current: string, revisions: readonly PolicyRevisionSummary[], reloads: readonly PolicyReloadRecord[]): string {
  return page('Policy history', viewer, html`<p>Every policy revision this gateway accepted is kept with its files; the one in force is ${revisionLink(current)}.</p>
<table>
<caption>Accepted revisions, newest first</caption>
<thead><tr><th scope="col">First accepted</th><th scope="col">Revision</th><th scope="col">Files</th><th scope="col">Changes</th></tr></thead>
<tbody>${
    revisions.length === 0
      ? html`<tr><td colspan="4">None kept yet.</td></tr>`
      : revisions.map((revision, i) => {
          const older = revisions[i + 1];
          return html`<tr><td>${revision.firstAcceptedAt}</td><td>${revisionLink(revision.revision)}${revision.revision === current ? ' (in force)' : ''}</td><td>${revision.files.length}</td><td>${older ? html`<a href="/console/policies/diff?from=${older.revision}&amp;to=${revision.revision}">since ${short(older.revision)}</a>` : 'the first kept'}</td></tr>`;
        })
  }</tbody>
</table>
<table>
<caption>Reloads, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">Asked by</th><th scope="col">Outcome</th><th scope="col">Revisions, or the problems of the files refused</th></tr></thead>
<tbody>${reloads.length === 0 ? html`<tr><td colspan="4">No reload yet.</td></tr>` : reloads.map(reloadRow)}</tbody>
</table>`);
}

export function policyRevisionPage(viewer: Viewer, record: PolicyRevisionRecord): string {
  return page('Policy revision', viewer, html`<p>Revision <code>${record.revision}</code>, first accepted ${record.firstAcceptedAt}; ${record.files.length} files, as they were enforced.</p>
${record.files.map((file) => html`<details><summary>${file.name}</summary><pre>${file.text}</pre></details>`)}
<p><a href="/console/policies/history">Back to the policy history</a></p>`);
}

export function policyDiffPage(viewer: Viewer, diff: { from: { revision: string; firstAcceptedAt: string }; to: { revision: string; firstAcceptedAt: string }; files: readonly PolicyFileDiff[] }): string {
  const changed = diff.files.filter((file) => file.change !== 'same');
  return page('Policy changes', viewer, html`<p>From ${revisionLink(diff.from.revision)} (${diff.from.firstAcceptedAt}) to ${revisionLink(diff.to.revision)} (${diff.to.firstAcceptedAt}): ${changed.length} of ${diff.files.length} files ${changed.length === 1 ? 'differs' : 'differ'}.</p>
${changed.map(
  (file) => html`<section class="file-diff">
<h2>${file.name} <span class="change">(${file.change})</span></h2>
${file.hunks.map(
  (hunk) => html`<pre class="diff" aria-label="lines ${hunk.oldStart}–${hunk.oldStart + Math.max(hunk.oldLines - 1, 0)} before, ${hunk.newStart}–${hunk.newStart + Math.max(hunk.newLines - 1, 0)} after">@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@
${hunk.lines.map((line) => (line.kind === '+' ? html`<ins>+${line.text}</ins>\n` : line.kind === '-' ? html`<del>-${line.text}</del>\n` : html` ${line.text}\n`))}</pre>`,
)}
</section>`,
)}
<p><a href="/console/policies/history">Back to the policy history</a></p>`);
}
