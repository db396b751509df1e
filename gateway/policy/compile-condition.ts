// Compiles a rule's `when` into a predicate once, at load, so a decision walks no YAML. The hot
// predicate is generated JavaScript (as ajv compiles schemas): one function per rule with the fact
// reads and literals inlined. Nothing an officer writes is pasted into code: fact paths are checked
// against the schema's pattern and the fact catalogue before compiling, and every key and value is
// embedded through JSON.stringify. A closure tree over the same condition explains failures.
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
  const get = compilePathGetter(path.split('.'));
  if (!/^(sender|recipient)\.approvals\.[^.]+\.[^.]+$/.test(path)) return get;
  return (facts) => get(facts) ?? false;
}

type Getter = (value: unknown) => unknown;

/** Unrolled property reads for the usual depths: a decision reads every fact once per rule. */
function compilePathGetter(segments: readonly string[]): Getter {
  const step = (key: string, next?: Getter): Getter =>
    next
      ? (value) => (value !== null && typeof value === 'object' ? next((value as Record<string, unknown>)[key]) : undefined)
      : (value) => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined);
  let getter: Getter | undefined;
  for (let i = segments.length - 1; i >= 0; i -= 1) getter = step(segments[i] as string, getter);
  return getter ?? ((value) => value);
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
  return { test: generatePredicate(condition, parameters), failures: compileExplainer(condition, parameters).failures };
}

export const SAFE_FACT_PATH = /^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z][a-zA-Z0-9-]*)*$/;

/** Generated code of one fact read; the reader owns the variables it names. */
export type FactReader = (fact: string) => string;

/** Collects the values generated code refers to as `c[i]` (sets for `in`, shared objects). */
export class CodeConstants {
  readonly values: unknown[] = [];
  ref(value: unknown): string {
    return `c[${this.values.push(value) - 1}]`;
  }
}

/** Longest list an `in` test compares value by value; longer ones use a hoisted Set. */
const INLINE_LIST_MAX = 8;

/**
 * The condition as one JavaScript expression over the fact reads `read` generates. Shared by the
 * per-rule predicate and the whole-set matcher so both decide exactly alike.
 */
export function emitCondition(condition: Condition, parameters: ParameterValues, read: FactReader, constants: CodeConstants): string {
  const literal = (value: unknown): string => JSON.stringify(value) ?? 'undefined';
  // `===` agrees with Set#has (SameValueZero) except on NaN, so lists holding NaN keep the Set.
  const membership = (list: readonly Scalar[], fact: string): string =>
    list.length <= INLINE_LIST_MAX && list.every((v) => typeof v !== 'number' || !Number.isNaN(v))
      ? `(${list.length === 0 ? 'false' : list.map((v) => `${fact} === ${literal(v)}`).join(' || ')})`
      : `${constants.ref(new Set(list))}.has(${fact})`;
  const emit = (node: Condition): string => {
    if ('all' in node) return `(${node.all.map(emit).join(' && ')})`;
    if ('any' in node) return `(${node.any.map(emit).join(' || ')})`;
    if ('not' in node) return `!${emit(node.not)}`;
    const operator = operatorOf(node);
    const value = resolve(node[operator], parameters);
    const fact = read(node.fact);
    switch (operator) {
      case 'equals':
        return `(${fact} === ${literal(value)})`;
      case 'notEquals':
        return `(${fact} !== ${literal(value)})`;
      case 'in':
        return membership(value as Scalar[], fact);
      case 'notIn':
        return `!${membership(value as Scalar[], fact)}`;
      case 'gt':
        return `(num(${fact}) > ${literal(value)})`;
      case 'gte':
        return `(num(${fact}) >= ${literal(value)})`;
      case 'lt':
        return `(num(${fact}) < ${literal(value)})`;
      case 'lte':
        return `(num(${fact}) <= ${literal(value)})`;
      case 'exists':
        return `(${fact} != null)`;
      case 'absent':
        return `(${fact} == null)`;
    }
  };
  return emit(condition);
}

/** A comparison with NaN is false, so a fact that is not a number fails every numeric test. */
export const toNumberOrNaN = (value: unknown): number => (typeof value === 'number' ? value : Number.NaN);

/** One generated function for the whole condition; constants (sets for `in`) are hoisted. */
function generatePredicate(condition: Condition, parameters: ParameterValues): Predicate {
  const constants = new CodeConstants();
  const read = (fact: string): string => {
    if (!SAFE_FACT_PATH.test(fact)) throw new Error(`unsafe fact path ${JSON.stringify(fact)}`);
    const access = `f${fact.split('.').map((segment) => `?.[${JSON.stringify(segment)}]`).join('')}`;
    return /^(sender|recipient)\.approvals\.[^.]+\.[^.]+$/.test(fact) ? `(${access} ?? false)` : access;
  };
  const body = emitCondition(condition, parameters, read, constants);
  return new Function('c', 'num', `"use strict"; return function rule(f) { return ${body}; };`)(constants.values, toNumberOrNaN) as Predicate;
}

/** The closure tree: slower than the generated predicate, but it can say which tests failed. */
function compileExplainer(condition: Condition, parameters: ParameterValues): CompiledCondition {
  if ('all' in condition) {
    const parts = condition.all.map((c) => compileExplainer(c, parameters));
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
    const parts = condition.any.map((c) => compileExplainer(c, parameters));
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
    const inner = compileExplainer(condition.not, parameters);
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
