// Reads the overview's tables back into numbers, to compare each one with what GET /v1/flows answers
// for the same filter (the console must show exactly the API's numbers).
import { FLOW_OUTCOMES } from '../../gateway/flows/flow-counts.js';

export type Figures = Record<string, Record<string, { transfers: number; bytes: number }>>;

/** The table with this caption: per row key, per outcome, transfers and declared bytes (zeros shown as 0). */
export function tableFigures(page: string, caption: string): Figures {
  const start = page.indexOf(`<caption>${caption}</caption>`);
  if (start < 0) throw new Error(`no table "${caption}" on the page`);
  const table = page.slice(start, page.indexOf('</table>', start));
  const figures: Figures = {};
  for (const row of table.matchAll(/<tr data-key="([^"]+)">([\s\S]*?)<\/tr>/g)) {
    const [, key, cells] = row as unknown as [string, string, string];
    const line: Figures[string] = {};
    for (const outcome of FLOW_OUTCOMES) {
      const transfers = new RegExp(`data-outcome="${outcome}" data-transfers="(\\d+)"`).exec(cells)?.[1];
      const bytes = new RegExp(`data-outcome="${outcome}" data-bytes="(\\d+)"`).exec(cells)?.[1];
      if (transfers === undefined || bytes === undefined) throw new Error(`row ${key} of "${caption}" lacks ${outcome}`);
      line[outcome] = { transfers: Number(transfers), bytes: Number(bytes) };
    }
    figures[key] = line;
  }
  return figures;
}

/** An API tally with every outcome present (zeros where the API says nothing), as the tables show it. */
export function withZeros(tally: Readonly<Record<string, Partial<Record<string, { transfers: number; bytes: number }>>>>): Figures {
  return Object.fromEntries(Object.entries(tally).map(([key, line]) => [key, Object.fromEntries(FLOW_OUTCOMES.map((outcome) => [outcome, line[outcome] ?? { transfers: 0, bytes: 0 }]))]));
}
