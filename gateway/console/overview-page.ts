// The overview: what crossed the border, and what was stopped, over a period — by data category, by
// direction and by outcome, per day or per week — from the maintained flow counts (flows/), never a
// scan of the records, and summed where they are kept: the numbers of GET /v1/flows. Tables work without
// JavaScript; the charts (uPlot) draw the per-period table's own values.
import { FLOW_OUTCOMES, type FlowSummary, type FlowTally } from '../flows/flow-counts.js';
import { DIRECTIONS } from '../policy/decision-input.js';
import { html } from './html.js';
import { page, type Viewer } from './console-pages.js';

export interface OverviewFilter {
  readonly from: string;
  readonly to: string;
  readonly institution?: string;
  readonly bucket: 'day' | 'week';
}

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

/** One table of a summary: transfers, then MiB, per outcome. The per-period one carries the values the charts draw. */
function table(caption: string, heading: string, totals: FlowTally, options: { label?: (key: string) => string; id?: string } = {}) {
  const keys = Object.keys(totals).sort();
  const label = options.label ?? ((key: string) => key);
  return html`<table${options.id ? html` id="${options.id}"` : ''}>
<caption>${caption}</caption>
<thead><tr><th scope="col" rowspan="2">${heading}</th><th scope="colgroup" colspan="${FLOW_OUTCOMES.length}">Transfers</th><th scope="colgroup" colspan="${FLOW_OUTCOMES.length}">MiB (declared)</th></tr>
<tr>${FLOW_OUTCOMES.map((outcome) => html`<th scope="col">${outcome}</th>`)}${FLOW_OUTCOMES.map((outcome) => html`<th scope="col">${outcome}</th>`)}</tr></thead>
<tbody>${
    keys.length === 0
      ? html`<tr><td colspan="${FLOW_OUTCOMES.length * 2 + 1}">Nothing in this period.</td></tr>`
      : keys.map(
          (key) =>
            html`<tr data-key="${key}"><th scope="row">${label(key)}</th>${FLOW_OUTCOMES.map((outcome) => html`<td data-outcome="${outcome}" data-transfers="${totals[key]?.[outcome]?.transfers ?? 0}">${totals[key]?.[outcome]?.transfers ?? 0}</td>`)}${FLOW_OUTCOMES.map((outcome) => html`<td data-outcome="${outcome}" data-bytes="${totals[key]?.[outcome]?.bytes ?? 0}">${mib(totals[key]?.[outcome]?.bytes ?? 0)}</td>`)}</tr>`,
        )
  }</tbody>
</table>`;
}

/** Where the charts script draws (it reads the per-period table's values); without JavaScript the table says the same. */
function charts(bucket: 'day' | 'week') {
  const per = bucket === 'week' ? 'week' : 'day';
  return html`<div class="charts">
<figure><div class="chart" data-chart="transfers" data-source="per-period" role="img" aria-label="Chart: transfers per ${per} by outcome; the same numbers are in the table Per ${per}"></div><figcaption>Transfers per ${per}, by outcome</figcaption></figure>
<figure><div class="chart" data-chart="bytes" data-source="per-period" role="img" aria-label="Chart: MiB per ${per} by outcome; the same numbers are in the table Per ${per}"></div><figcaption>MiB per ${per}, by outcome</figcaption></figure>
</div>`;
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

const CATEGORIES = ['genomics', 'medical-records', 'clinical-trial', 'research-other'];

/** The signed export of the period shown, with the API's filters (GET /v1/audit/export): institution as shown, category, direction, format. */
function exportForm(filter: OverviewFilter) {
  const option = (value: string, label = value) => html`<option value="${value}">${label}</option>`;
  return html`<form method="get" action="/v1/audit/export">
<fieldset>
<legend>Download the signed audit export of this period${filter.institution ? html` for ${filter.institution}` : ''}</legend>
<input type="hidden" name="from" value="${filter.from}T00:00:00.000Z">
<input type="hidden" name="to" value="${new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000).toISOString()}">
${filter.institution ? html`<input type="hidden" name="institution" value="${filter.institution}">` : ''}
<label for="export-category">Category</label> <select id="export-category" name="category">${option('', 'any')}${CATEGORIES.map((category) => option(category))}</select>
<label for="export-direction">Direction</label> <select id="export-direction" name="direction">${option('', 'any')}${DIRECTIONS.map((direction) => option(direction))}</select>
<label for="export-format">Format</label> <select id="export-format" name="format">${option('ndjson', 'NDJSON (verifiable with hetao audit verify)')}${option('csv', 'CSV (for spreadsheets)')}</select>
<button type="submit">Download</button>
</fieldset>
</form>`;
}

export const OVERVIEW_SCRIPTS = ['/console/assets/vendor/uplot/uPlot.iife.min.js', '/console/assets/overview-charts.js'];

/** The overview of a period, or — `refusal` — the form again with why the period asked for was refused. */
export function overviewPage(viewer: Viewer, filter: OverviewFilter, summary: FlowSummary | { refusal: string }, witnessing?: WitnessingView): string {
  const form = html`<form method="get" action="/console/overview">
<p>
<label for="from">From</label> <input id="from" name="from" type="date" value="${filter.from}" required>
<label for="to">to</label> <input id="to" name="to" type="date" value="${filter.to}" required>
<label for="institution">Institution</label> <input id="institution" name="institution" value="${filter.institution ?? ''}">
<label for="bucket">Per</label> <select id="bucket" name="bucket"><option value="day"${filter.bucket === 'day' ? html` selected` : ''}>day</option><option value="week"${filter.bucket === 'week' ? html` selected` : ''}>week</option></select>
<button type="submit">Show</button>
</p>
</form>`;
  if ('refusal' in summary) return page('Overview', viewer, html`${form}<p role="alert" class="problem">${summary.refusal}</p>`);
  return page(
    'Overview',
    viewer,
    html`${form}
<p>Transfers by outcome, counted when each happened (a transfer allowed and later received counts under both). Denied ones never became transfers: they are the policy's refusals.</p>
${charts(filter.bucket)}
${table('By data category', 'Category', summary.byCategory)}
${table('By direction', 'Direction', summary.byDirection)}
${table(filter.bucket === 'week' ? 'Per week' : 'Per day', filter.bucket === 'week' ? 'Week' : 'Day', summary.byPeriod, { id: 'per-period', label: (key) => (filter.bucket === 'week' ? `week of ${key}` : key) })}
${viewer.role === 'regulator' ? exportForm(filter) : ''}
${witnessingSection(witnessing)}`,
    OVERVIEW_SCRIPTS,
  );
}
