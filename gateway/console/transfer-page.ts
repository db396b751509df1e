// A transfer as a regulator looks at it: its states, the decision with every rule and its basis, the
// obligations, what inspection found, the receipts, and its journal entries — each with its canonical
// text, which the page's script checks against the signed checkpoint (console-assets.ts).
import type { TransferRecord } from '../transfer/transfer-record.js';
import { html } from './html.js';
import { page, type Viewer } from './console-pages.js';

export function transferPage(viewer: Viewer, record: TransferRecord, entries: readonly { seq: number; time: string; type: string; actor: string; text: string }[], basisOf: (ruleId: string) => string | undefined): string {
  const { decision } = record;
  const json = (value: unknown): string => JSON.stringify(value, null, 2);
  return page(
    `Transfer ${record.id}`,
    viewer,
    html`<dl>
<dt>Status</dt><dd>${record.status}</dd>
<dt>From → to</dt><dd>${record.sender} → ${record.recipient}${record.peer ? html` (across the channel: ${record.peer.direction} via ${record.peer.gateway})` : ''}</dd>
<dt>Data</dt><dd>${record.manifest.dataset.category}, ${record.manifest.dataset.sizeBytes} bytes, direction ${decision.input.direction}</dd>
</dl>
<h2>Decision</h2>
<p><span class="effect-${decision.effect}">${decision.effect}</span>, decision <code>${decision.decisionId}</code>, policy revision <code>${decision.policyRevision.slice(0, 16)}</code>.</p>
<table>
<caption>Rules that decided</caption>
<thead><tr><th scope="col">Rule</th><th scope="col">Basis</th></tr></thead>
<tbody>${decision.matchedRules.map((rule) => html`<tr><th scope="row"><code>${rule}</code></th><td>${basisOf(rule) ?? ''}</td></tr>`)}</tbody>
</table>
${decision.reasons.length > 0 ? html`<ul>${decision.reasons.map((reason) => html`<li>rule <code>${reason.ruleId ?? 'default deny'}</code>: ${reason.message} (${reason.code})</li>`)}</ul>` : ''}
<h2>Obligations</h2>
<pre>${json(record.obligations)}</pre>
<h2>Inspection</h2>
<pre>${record.inspection ? json(record.inspection) : 'none recorded'}</pre>
<h2>States</h2>
<table>
<caption>History</caption>
<thead><tr><th scope="col">At</th><th scope="col">Status</th><th scope="col">Event</th><th scope="col">By</th></tr></thead>
<tbody>${record.history.map((event) => html`<tr><td>${event.at}</td><td>${event.status}</td><td>${event.event}</td><td>${event.by}</td></tr>`)}</tbody>
</table>
<h2>Receipts</h2>
${record.receipts.length === 0 ? html`<p>None yet.</p>` : html`<ul>${record.receipts.map((receipt) => html`<li>${receipt.at} by ${receipt.by}: <code>${receipt.sha256}</code> ${receipt.matches ? 'matches' : 'DOES NOT MATCH'}</li>`)}</ul>`}
<h2>Journal entries</h2>
<p>Proof check: <span id="proof-summary" role="status">not checked (this needs JavaScript)</span></p>
<table id="journal-entries" data-transfer="${record.id}">
<caption>This transfer's entries in the signed audit log</caption>
<thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col">In the signed log</th><th scope="col">Entry</th></tr></thead>
<tbody>${entries.map((entry) => html`<tr data-seq="${entry.seq}"><td>${entry.seq}</td><td>${entry.time}</td><td>${entry.type}</td><td>${entry.actor}</td><td class="proof">not checked</td><td><details><summary>text</summary><code class="entry-text">${entry.text}</code></details></td></tr>`)}</tbody>
</table>`,
    ['/console/assets/verify-proofs.js'],
  );
}
