// Runs the demo's numbered steps in order and prints what each did, ending with ✓ when it had the
// expected outcome and ✗ (with what happened instead) when it did not. A step that throws counts as
// not having its expected outcome; the following steps still run, so one run shows every problem.
import { GatewayClientError } from '../../gateway/client/gateway-client-error.js';

export interface StepOutcome {
  /** True when the step had the outcome the demo expects of it. */
  readonly ok: boolean;
  readonly summary: string;
}

export type Say = (line: string) => void;

export interface DemoStep<Context> {
  readonly title: string;
  run(context: Context, say: Say): Promise<StepOutcome>;
}

export interface StepReport {
  readonly number: number;
  readonly title: string;
  readonly outcome: StepOutcome;
}

export const expected = (summary: string): StepOutcome => ({ ok: true, summary });
export const unexpected = (summary: string): StepOutcome => ({ ok: false, summary });

/** One line for anything a step may throw; the gateway's problems keep their stable code. */
export function describeError(error: unknown): string {
  if (error instanceof GatewayClientError) return `${error.code} (HTTP ${error.status}): ${error.detail}`;
  return error instanceof Error ? error.message : String(error);
}

export async function runSteps<Context>(steps: readonly DemoStep<Context>[], context: Context, out: Say): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const [index, step] of steps.entries()) {
    const number = index + 1;
    out('');
    out(`${number}. ${step.title}`);
    const say: Say = (line) => out(`   ${line}`);
    let outcome: StepOutcome;
    try {
      outcome = await step.run(context, say);
    } catch (error) {
      outcome = unexpected(`stopped: ${describeError(error)}`);
    }
    say(`${outcome.ok ? '✓' : '✗'} ${outcome.summary}`);
    reports.push({ number, title: step.title, outcome });
  }
  return reports;
}
