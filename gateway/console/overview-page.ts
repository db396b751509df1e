// The overview: what crossed the border, and what was stopped, over a period — by data category, by
// direction and by outcome, per day or per week — from the maintained flow counts (flows/), never a
// scan of the records. Tables only, which work without JavaScript and say the same numbers as the API.
import type { FlowCount } from '../flows/flow-counts.js';
import { FLOW_OUTCOMES } from '../flows/flow-counts.js';
import { html } from './html.js';
import { page, type Viewer } from './console-pages.js';

export interface OverviewFilter {
  readonly from: string;
  readonly to: string;
  readonly institution?: string;
  readonly bucket: 'day' | 'week';
}

/** The Monday (UTC) of a day's ISO week. */
const weekOf = (day: string): string => {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  return date.toISOString().slice(0, 10);
};

type Totals = Map<string, Map<string, { transfers: number; bytes: number }>>;

/** rows × outcome totals, by `rowOf`. */
function tally(rows: readonly FlowCount[], rowOf: (row: FlowCount) => string): Totals {
  const totals: Totals = new Map();
  for (const row of rows) {
    const line = totals.get(rowOf(row)) ?? new Map<string, { transfers: number; bytes: number }>();
    const cell = line.get(row.outcome) ?? { transfers: 0, bytes: 0 };
    line.set(row.outcome, { transfers: cell.transfers + row.transfers, bytes: cell.bytes + row.bytes });
    totals.set(rowOf(row), line);
  }
  return totals;
}

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

function table(caption: string, heading: string, totals: Totals) {
  const keys = [...totals.keys()].sort();
  return html`<table>
<caption>${caption}</caption>
<thead><tr><th scope="col">${heading}</th>${FLOW_OUTCOMES.map((outcome) => html`<th scope="col">${outcome}</th>`)}<th scope="col">MiB allowed</th></tr></thead>
<tbody>${keys.length === 0 ? html`<tr><td colspan="${FLOW_OUTCOMES.length + 2}">Nothing in this period.</td></tr>` : keys.map((key) => html`<tr><th scope="row">${key}</th>${FLOW_OUTCOMES.map((outcome) => html`<td data-outcome="${outcome}">${totals.get(key)?.get(outcome)?.transfers ?? 0}</td>`)}<td>${mib(totals.get(key)?.get('allowed')?.bytes ?? 0)}</td></tr>`)}</tbody>
</table>`;
}

export function overviewPage(viewer: Viewer, filter: OverviewFilter, rows: readonly FlowCount[]): string {
  const bucketOf = (row: FlowCount): string => (filter.bucket === 'week' ? `week of ${weekOf(row.day)}` : row.day);
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
${table('By data category', 'Category', tally(rows, (row) => row.category))}
${table('By direction', 'Direction', tally(rows, (row) => row.direction))}
${table(filter.bucket === 'week' ? 'Per week' : 'Per day', filter.bucket === 'week' ? 'Week' : 'Day', tally(rows, bucketOf))}`);
}
