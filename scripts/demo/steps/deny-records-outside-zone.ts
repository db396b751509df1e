// Step 2: identified patient records to a registered institution outside the zone: denied before
// a byte moves, with every reason and the rule that gave it.
import { GatewayClientError } from '../../../gateway/client/gateway-client-error.js';
import type { DemoContext } from '../demo-context.js';
import { describeReasons, reasonSource, shortRevision } from '../describe.js';
import { identifiedRecordsOutsideZoneManifest } from '../manifests.js';
import { expected, unexpected, type DemoStep } from '../step-runner.js';

export const denyRecordsOutsideZone: DemoStep<DemoContext> = {
  title: 'Identified medical records to an institution outside the zone: denied',
  async run(context, say) {
    say('The HK genomics lab (hk-uni-genomics) asks to send identified patient records of a clinical trial (L4, 40 patients,');
    say('broad research consent only) to the Chengdu Institute of Health Data Science (cn-outside-institute), which is');
    say('registered but outside the Hetao zone. Only the manifest is sent: the policy decides before any data moves.');
    const lab = await context.client('institutions/hk-uni-genomics');
    try {
      const created = await lab.createTransfer(identifiedRecordsOutsideZoneManifest());
      return unexpected(`the policy allowed it (transfer ${created.id}, rules ${created.decision.matchedRules.join(', ')})`);
    } catch (error) {
      if (!(error instanceof GatewayClientError) || !error.isPolicyDenial) throw error;
      const { reasons } = error;
      if (error.decisionId) context.results.deniedDecisionId = error.decisionId;
      say(`Denied (HTTP ${error.status} ${error.code}): decision ${error.decisionId ?? '?'}, policy revision ${shortRevision(error.policyRevision ?? '?')},`);
      say(`${reasons.length} reason${reasons.length === 1 ? '' : 's'}:`);
      for (const line of describeReasons(reasons)) say(`  ${line}`);
      say('The denial is in the audit journal with the decision id and the rule ids (step 5 finds it there).');
      const rules = reasons.filter((reason) => reason.ruleId !== null).map(reasonSource);
      if (rules.length === 0) return unexpected(`denied, but by no rule (${reasons.map(reasonSource).join(', ') || 'no reasons given'})`);
      return expected(`denied by ${rules.join(', ')} (decision ${error.decisionId ?? '?'})`);
    }
  },
};
