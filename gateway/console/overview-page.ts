// The overview: what crossed the border, and what was stopped, over a period — by data category, by
// direction and by outcome, per day or per week — from the maintained flow counts (flows/), never a
// scan of the records, and summed where they are kept. Tables only, which work without JavaScript and say the same numbers as the API.
import { FLOW_OUTCOMES, type FlowSummary, type FlowTally } from '../flows/flow-counts.js';
import { html } from './html.js';
import { page, type Viewer } from './console-pages.js';

export interface OverviewFilter {
  readonly from: string;
  readonly to: string;
  readonly institution?: string;
  readonly bucket: 'day' | 'week';
}

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

function table(caption: string, heading: string, totals: FlowTally, label: (key: string) => string = (key) => key) {
  const keys = Object.keys(totals).sort();
  return html`<table>
<caption>${caption}</caption>
<thead><tr><th scope="col">${heading}</th>${FLOW_OUTCOMES.map((outcome) => html`<th scope="col">${outcome}</th>`)}<th scope="col">MiB allowed</th></tr></thead>
<tbody>${keys.length === 0 ? html`<tr><td colspan="${FLOW_OUTCOMES.length + 2}">Nothing in this period.</td></tr>` : keys.map((key) => html`<tr><th scope="row">${label(key)}</th>${FLOW_OUTCOMES.map((outcome) => html`<td data-outcome="${outcome}">${totals[key]?.[outcome]?.transfers ?? 0}</td>`)}<td>${mib(totals[key]?.allowed?.bytes ?? 0)}</td></tr>`)}</tbody>
</table>`;
}

/** The peer gateways' witnessing of this log, as /readyz shows it. */
export interface WitnessingView {
  readonly peers: Readonly<Record<string, { cosignedSize?: number; cosignedAt?: string; lastOutcome?: string }>>;
  readonly conflicts: number;
}

function witnessingSection(witnessing: WitnessingView | undefined) {
  const peers = Object.entries(witnessing?.peers ?? {});
  if (peers.length === 0) return '';
  return html`<table>
<caption>The peer gateways witnessing this gateway's audit log</caption>
<thead><tr><th scope="col">Peer</th><th scope="col">Cosigned up to tree size</th><th scope="col">Cosigned at</th><th scope="col">Last round</th></tr></thead>
<tbody>${peers.map(([peer, status]) => html`<tr><th scope="row">${peer}</th><td>${status.cosignedSize ?? 'not yet'}</td><td>${status.cosignedAt ?? ''}</td><td>${status.lastOutcome ?? ''}</td></tr>`)}</tbody>
</table>
<p>${witnessing?.conflicts ? html`<strong role="alert">${witnessing.conflicts} conflicting checkpoints of a peer's log refused (see /readyz)</strong>` : 'No conflicting checkpoint of a peer log seen.'}</p>`;
}

function exportForm(filter: OverviewFilter) {
  return html`<form method="get" action="/v1/audit/export">
<input type="hidden" name="from" value="${filter.from}T00:00:00.000Z">
<input type="hidden" name="to" value="${new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000).toISOString()}">
${filter.institution ? html`<input type="hidden" name="institution" value="${filter.institution}">` : ''}
<p><button type="submit">Download the signed audit export of this period${filter.institution ? html` for ${filter.institution}` : ''}</button> (NDJSON; verify it with <code>hetao audit verify</code>)</p>
</form>`;
}

export function overviewPage(viewer: Viewer, filter: OverviewFilter, summary: FlowSummary, witnessing?: WitnessingView): string {
  return page('Overview', viewer, html`<form method="get" action="/console/overview">
<p>
<label for="from">From</label> <input id="from" name="from" type="date" value="${filter.from}" required>
<label for="to">to</label> <input id="to" name="to" type="date" value="${filter.to}" required>
<label for="institution">Institution</label> <input id="institution" name="institution" value="${filter.institution ?? ''}">
<label for="bucket">Per</label> <select id="bucket" name="bucket"><option value="day"${filter.bucket === 'day' ? html` selected` : ''}>day</option><option value="week"${filter.bucket === 'week' ? html` selected` : ''}>week</option></select>
<button type="submit">Show</button>
</p>
</form>
<p>Transfers by outcome, counted when each happened (a transfer allowed and later received counts under both). Denied ones never became transfers: they are the policy's refusals.</p>
${table('By data category', 'Category', summary.byCategory)}
${table('By direction', 'Direction', summary.byDirection)}
${table(filter.bucket === 'week' ? 'Per week' : 'Per day', filter.bucket === 'week' ? 'Week' : 'Day', summary.byPeriod, (key) => (filter.bucket === 'week' ? `week of ${key}` : key))}
${viewer.role === 'regulator' ? exportForm(filter) : ''}
${witnessingSection(witnessing)}`);
}
