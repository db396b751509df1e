// One figure of a benchmark, next to the baseline measured in the same run, as a line that
// bench/run-all.ts collects into the summary table and bench/RESULTS.md. Each bench still prints
// its own detailed table; these lines are the headline figures.
export interface BenchResult {
  /** The issue the figure answers to, e.g. "policy (3)". */
  readonly area: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** What the issue asks for, in words, and whether this run met it. */
  readonly target?: { readonly text: string; readonly met: boolean };
}

export const RESULT_PREFIX = 'bench-result ';

export function reportResult(result: BenchResult): void {
  console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`);
}
