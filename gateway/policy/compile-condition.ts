// Compiles a rule's `when` into a predicate once, at load: fact paths become getters and parameter
// references become their values, so a decision walks no YAML. The same compiled tree explains
// itself: which tests failed, for officers asking why a rule did not match.
import { type Condition, type FactTest, type Operator, type ParamRef, type Scalar, OPERATORS, isParamRef } from './policy-file.js';
import type { Facts } from './decision-input.js';

export type Predicate = (facts: Facts) => boolean;

export interface CompiledCondition {
  readonly test: Predicate;
  /** Human-readable tests that fail for these facts (empty when the condition holds). */
  readonly failures: (facts: Facts) => string[];
}

export type ParameterValues = ReadonlyMap<string, Scalar | readonly Scalar[]>;

/** Reads a fact; approval facts that are not there read as false (not held, not valid). */
export function compileFactGetter(path: string): (facts: Facts) => unknown {
  const segments = path.split('.');
  const isApprovalFact = segments.length === 4 && segments[1] === 'approvals';
  return (facts) => {
    let value: unknown = facts;
    for (const segment of segments) {
      if (value === null || typeof value !== 'object') return isApprovalFact ? false : undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value === undefined && isApprovalFact ? false : value;
  };
}

/** The single operator of a fact test (the schema guarantees exactly one). */
export function operatorOf(test: FactTest): Operator {
  const operator = OPERATORS.find((op) => test[op] !== undefined);
  if (!operator) throw new Error(`fact test on ${test.fact} has no operator`);
  return operator;
}

function resolve(value: unknown, parameters: ParameterValues): unknown {
  if (!isParamRef(value)) return value;
  const resolved = parameters.get((value as ParamRef).param);
  if (resolved === undefined) throw new Error(`unknown parameter ${(value as ParamRef).param}`);
  return resolved;
}

function compileTest(test: FactTest, parameters: ParameterValues): { predicate: Predicate; text: string } {
  const get = compileFactGetter(test.fact);
  const operator = operatorOf(test);
  const expected = resolve(test[operator], parameters);
  const text = `${test.fact} ${operator}${operator === 'exists' || operator === 'absent' ? '' : ` ${JSON.stringify(expected)}`}`;
  const numeric = (compare: (actual: number, limit: number) => boolean): Predicate => {
    const limit = expected as number;
    return (facts) => {
      const actual = get(facts);
      return typeof actual === 'number' && compare(actual, limit);
    };
  };
  switch (operator) {
    case 'equals':
      return { predicate: (facts) => get(facts) === expected, text };
    case 'notEquals':
      return { predicate: (facts) => get(facts) !== expected, text };
    case 'in': {
      const set = new Set(expected as Scalar[]);
      return { predicate: (facts) => set.has(get(facts) as Scalar), text };
    }
    case 'notIn': {
      const set = new Set(expected as Scalar[]);
      return { predicate: (facts) => !set.has(get(facts) as Scalar), text };
    }
    case 'gt':
      return { predicate: numeric((a, b) => a > b), text };
    case 'gte':
      return { predicate: numeric((a, b) => a >= b), text };
    case 'lt':
      return { predicate: numeric((a, b) => a < b), text };
    case 'lte':
      return { predicate: numeric((a, b) => a <= b), text };
    case 'exists':
      return { predicate: (facts) => get(facts) !== undefined && get(facts) !== null, text };
    case 'absent':
      return { predicate: (facts) => get(facts) === undefined || get(facts) === null, text };
  }
}

/** @throws Error on an unknown parameter (the loader reports those before compiling). */
export function compileCondition(condition: Condition, parameters: ParameterValues): CompiledCondition {
  if ('all' in condition) {
    const parts = condition.all.map((c) => compileCondition(c, parameters));
    const tests = parts.map((p) => p.test);
    return {
      test: (facts) => {
        for (const test of tests) if (!test(facts)) return false;
        return true;
      },
      failures: (facts) => parts.flatMap((p) => p.failures(facts)),
    };
  }
  if ('any' in condition) {
    const parts = condition.any.map((c) => compileCondition(c, parameters));
    const tests = parts.map((p) => p.test);
    return {
      test: (facts) => {
        for (const test of tests) if (test(facts)) return true;
        return false;
      },
      failures: (facts) => (parts.some((p) => p.test(facts)) ? [] : [`none of: ${parts.map((p) => p.failures(facts).join(' and ')).join(' | ')}`]),
    };
  }
  if ('not' in condition) {
    const inner = compileCondition(condition.not, parameters);
    return {
      test: (facts) => !inner.test(facts),
      failures: (facts) => (inner.test(facts) ? [`not (${describeCondition(condition.not, parameters)})`] : []),
    };
  }
  const { predicate, text } = compileTest(condition, parameters);
  return { test: predicate, failures: (facts) => (predicate(facts) ? [] : [`${text} (is ${JSON.stringify(compileFactGetter(condition.fact)(facts)) ?? 'absent'})`]) };
}

function describeCondition(condition: Condition, parameters: ParameterValues): string {
  if ('all' in condition) return condition.all.map((c) => describeCondition(c, parameters)).join(' and ');
  if ('any' in condition) return condition.any.map((c) => describeCondition(c, parameters)).join(' or ');
  if ('not' in condition) return `not (${describeCondition(condition.not, parameters)})`;
  return compileTest(condition, parameters).text;
}
