// A dry-run decision as the officer reads it: the decision and its reasons, the near misses (rules
// that failed on one or two tests: what would have to differ for them to apply), then every rule with
// the tests it failed (policy/explain-policy.ts).
import type { RuleExplanation } from '../policy/explain-policy.js';
import { html, type Html } from './html.js';

/** A rule that failed on at most this many tests is a near miss. */
const NEAR_MISS_TESTS = 2;
const NEAR_MISSES_SHOWN = 6;

interface DecisionView {
  readonly effect: string;
  readonly decisionId: string;
  readonly reasons: readonly { ruleId?: string | null; code: string; message: string; jurisdiction?: string }[];
  readonly matchedRules: readonly string[];
}

const failedList = (tests: readonly string[]) => html`<ul>${tests.map((test) => html`<li><code>${test}</code></li>`)}</ul>`;

export function decisionFragment(decision: DecisionView, explanation: readonly RuleExplanation[]): Html {
  const nearMisses = explanation.filter((rule) => !rule.matched && rule.failedTests.length <= NEAR_MISS_TESTS).slice(0, NEAR_MISSES_SHOWN);
  return html`<section aria-labelledby="decision-heading">
<h2 id="decision-heading">Decision: <span class="effect-${decision.effect}">${decision.effect}</span></h2>
<p>Decision <code>${decision.decisionId}</code>; rules that matched: ${decision.matchedRules.join(', ') || 'none'}.</p>
${decision.reasons.length > 0 ? html`<ul>${decision.reasons.map((reason) => html`<li>${reason.jurisdiction ? html`[${reason.jurisdiction}] ` : ''}rule <code>${reason.ruleId ?? 'default deny'}</code>: ${reason.message} (${reason.code})</li>`)}</ul>` : ''}
${
  explanation.length === 0
    ? ''
    : html`<h3 id="near-misses">Near misses</h3>
${
  nearMisses.length === 0
    ? html`<p>No rule came within ${NEAR_MISS_TESTS} tests of matching.</p>`
    : html`<table aria-labelledby="near-misses">
<thead><tr><th scope="col">Rule</th><th scope="col">Jurisdiction</th><th scope="col">Would</th><th scope="col">Tests it failed</th></tr></thead>
<tbody>${nearMisses.map((rule) => html`<tr class="near-miss"><th scope="row"><code>${rule.ruleId}</code></th><td>${rule.jurisdiction}</td><td class="effect-${rule.effect}">${rule.effect}</td><td>${failedList(rule.failedTests)}</td></tr>`)}</tbody>
</table>`
}
<details><summary>Every rule, explained (${explanation.length})</summary>
<table>
<thead><tr><th scope="col">Rule</th><th scope="col">Jurisdiction</th><th scope="col">Effect</th><th scope="col">Outcome</th></tr></thead>
<tbody>${explanation.map((rule) => html`<tr><th scope="row"><code>${rule.ruleId}</code>${rule.unconfirmed ? html` <span class="unconfirmed">(unconfirmed)</span>` : ''}</th><td>${rule.jurisdiction}</td><td>${rule.effect}</td><td>${rule.matched ? html`<strong>matched</strong>` : html`failed ${rule.failedTests.length}: ${failedList(rule.failedTests)}`}</td></tr>`)}</tbody>
</table>
</details>`
}
</section>`;
}
