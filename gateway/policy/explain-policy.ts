// For officers: which rules matched a transfer and, for those that did not, which tests failed.
// Rules that failed on only a few tests are the near misses worth reading first.
import { buildFacts, type FactsInput } from './decision-input.js';
import type { PolicySet } from './load-policy-set.js';
import type { PolicyJurisdiction } from './policy-file.js';

export interface RuleExplanation {
  readonly ruleId: string;
  readonly jurisdiction: PolicyJurisdiction;
  /** What about the rule officers have not confirmed (it is enforced all the same). */
  readonly unconfirmed?: string;
  readonly effect: 'allow' | 'deny';
  readonly matched: boolean;
  /** Failed tests, e.g. `manifest.dataset.subjects lt 10000 (is 12000)`; empty when matched. */
  readonly failedTests: readonly string[];
}

/** Every rule with its outcome, matched first, then by fewest failed tests. */
export function explainPolicy(set: PolicySet, input: FactsInput): RuleExplanation[] {
  const facts = buildFacts(input);
  return set.rules
    .map((rule) => {
      const failedTests = rule.condition.failures(facts);
      return {
        ruleId: rule.id,
        jurisdiction: rule.jurisdiction,
        ...(rule.unconfirmed === undefined ? {} : { unconfirmed: rule.unconfirmed }),
        effect: rule.effect,
        matched: failedTests.length === 0,
        failedTests,
      };
    })
    .sort((a, b) => a.failedTests.length - b.failedTests.length);
}
