// "Who may send what to whom", worked out from the policy set's own cases: every case is placed in a
// cell (the sender's side → the recipient's side, the data class), and a cell says whether its cases
// were all allowed (A), all denied (P) or both (C, on conditions), with the rules that allowed and
// denied them. Generated, never written by hand, so docs/who-may-send-what.md cannot drift from the
// rules (a test compares it with this output).
import type { Party } from './decision-input.js';
import type { PolicySet } from './load-policy-set.js';
import type { Manifest } from './manifest.js';
import type { CaseResult } from './run-policy-cases.js';

export type DataClass = 'genomic' | 'medical record' | 'clinical-trial data' | 'other personal data' | 'anonymised or aggregate';
const DATA_CLASSES: readonly DataClass[] = ['genomic', 'medical record', 'clinical-trial data', 'other personal data', 'anonymised or aggregate'];

export interface MatrixCell {
  /** The sender's side: CN, HK, EU (an EEA state, per the set's parameter euEeaStates), US or another ISO code. */
  readonly from: string;
  readonly to: string;
  readonly data: DataClass;
  readonly allowed: number;
  readonly denied: number;
  /** `[jurisdiction] rule-id` of the rules that allowed the allowed cases, sorted. */
  readonly allowedBy: readonly string[];
  /** `[jurisdiction] rule-id` of the rules that denied the denied cases (`no rule allows` for the default), sorted. */
  readonly deniedBy: readonly string[];
}

const SIDE_ORDER = ['CN', 'HK', 'EU', 'US'];

/** Genomic data as the policy files define it (file 00): whatever the declared de-identification. */
function dataClassOf(manifest: Manifest, genomicFormats: readonly unknown[]): DataClass {
  const { dataset } = manifest;
  const genomic =
    dataset.category === 'genomics' ||
    dataset.humanGeneticResources ||
    (dataset.genomicScope !== undefined && dataset.genomicScope !== 'none') ||
    genomicFormats.includes(dataset.format);
  if (genomic) return 'genomic';
  if (dataset.category === 'clinical-trial' || manifest.purpose === 'clinical-trial') return 'clinical-trial data';
  if (dataset.deidentification === 'anonymised' || dataset.deidentification === 'aggregate') return 'anonymised or aggregate';
  return dataset.category === 'medical-records' ? 'medical record' : 'other personal data';
}

/** The cells of the cases that ran (cases whose manifest or sender was invalid are left out). */
export function transferMatrix(set: PolicySet, results: readonly CaseResult[], lookupInstitution: (id: string) => Party | undefined): MatrixCell[] {
  const list = (name: string): readonly unknown[] => {
    const value = set.parameters.get(name);
    return Array.isArray(value) ? value : [];
  };
  const eea = list('euEeaStates');
  const genomicFormats = list('genomicFormats');
  const sideOf = (jurisdiction: string): string => (eea.includes(jurisdiction) ? 'EU' : jurisdiction);
  const ruleById = new Map(set.rules.map((rule) => [rule.id, rule]));
  const named = (id: string): string => `[${ruleById.get(id)?.jurisdiction ?? '?'}] ${id}`;

  const cells = new Map<string, { from: string; to: string; data: DataClass; allowed: number; denied: number; allowedBy: Set<string>; deniedBy: Set<string> }>();
  for (const result of results) {
    const { decision, manifest } = result;
    if (!decision || !manifest) continue;
    const sender = lookupInstitution(decision.input.sender);
    const recipient = lookupInstitution(decision.input.recipient);
    if (!sender || !recipient) continue;
    const from = sideOf(sender.jurisdiction);
    const to = sideOf(recipient.jurisdiction);
    const data = dataClassOf(manifest, genomicFormats);
    const key = `${from}\u0000${to}\u0000${data}`;
    let cell = cells.get(key);
    if (!cell) cells.set(key, (cell = { from, to, data, allowed: 0, denied: 0, allowedBy: new Set(), deniedBy: new Set() }));
    if (decision.effect === 'allow') {
      cell.allowed += 1;
      for (const id of decision.matchedRules) if (ruleById.get(id)?.effect === 'allow') cell.allowedBy.add(named(id));
    } else {
      cell.denied += 1;
      for (const reason of decision.reasons) cell.deniedBy.add(reason.ruleId ? named(reason.ruleId) : reason.code === 'no-rule-allows' ? 'no rule allows' : reason.code);
    }
  }
  const rank = (side: string): number => {
    const index = SIDE_ORDER.indexOf(side);
    return index === -1 ? SIDE_ORDER.length : index;
  };
  return [...cells.values()]
    .map((cell) => ({ ...cell, allowedBy: [...cell.allowedBy].sort(), deniedBy: [...cell.deniedBy].sort() }))
    .sort((a, b) => rank(a.from) - rank(b.from) || a.from.localeCompare(b.from) || rank(a.to) - rank(b.to) || a.to.localeCompare(b.to) || DATA_CLASSES.indexOf(a.data) - DATA_CLASSES.indexOf(b.data));
}

/** The matrix as a Markdown table: A allowed in every case, P denied in every case, C allowed on conditions. */
export function formatTransferMatrix(cells: readonly MatrixCell[]): string {
  const verdict = (cell: MatrixCell): string => (cell.denied === 0 ? 'A' : cell.allowed === 0 ? 'P' : 'C');
  const rules = (names: readonly string[]): string => (names.length === 0 ? '—' : names.join('<br>'));
  return [
    '| from → to | data | verdict | cases allowed / denied | allowed by | denied by |',
    '| --- | --- | --- | --- | --- | --- |',
    ...cells.map((cell) => `| ${cell.from} → ${cell.to} | ${cell.data} | ${verdict(cell)} | ${cell.allowed} / ${cell.denied} | ${rules(cell.allowedBy)} | ${rules(cell.deniedBy)} |`),
  ].join('\n');
}
