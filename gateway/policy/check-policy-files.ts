// Semantic checks of schema-valid policy files, the part of `hetao policy lint` a schema cannot do:
// duplicate rule ids and parameters, unknown parameters, facts and institutions (errors), and tests
// that can never be true or name unknown approval types (warnings).
import { approvalTypeOfFact, KNOWN_APPROVAL_TYPES, lookupFact } from './fact-catalogue.js';
import { operatorOf } from './compile-condition.js';
import { isParamRef, type Condition, type FactTest, type PolicyFile, type PolicyProblem, type Scalar } from './policy-file.js';

export interface ParsedPolicyFile {
  readonly name: string;
  readonly file: string;
  readonly content: PolicyFile;
  readonly lineOf: (pointer: string) => number | undefined;
}

export interface PolicyCheckContext {
  /** Registered institution ids; when given, rules naming others are refused. */
  readonly institutions?: ReadonlySet<string>;
  /** Approval types the registry knows besides the built-in ones. */
  readonly approvalTypes?: ReadonlySet<string>;
}

/** The check context of a registry: its institution ids and the approval types it records. */
export function policyCheckContext(registry: {
  readonly institutions: ReadonlyMap<string, { readonly approvals?: readonly { readonly type: string }[] }>;
}): PolicyCheckContext {
  return {
    institutions: new Set(registry.institutions.keys()),
    approvalTypes: new Set([...registry.institutions.values()].flatMap((institution) => (institution.approvals ?? []).map((a) => a.type))),
  };
}

const NUMERIC = new Set(['gt', 'gte', 'lt', 'lte']);

export function checkPolicyFiles(files: readonly ParsedPolicyFile[], context: PolicyCheckContext): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const report = (f: ParsedPolicyFile, pointer: string, severity: PolicyProblem['severity'], message: string): void => {
    const line = f.lineOf(pointer);
    problems.push({ file: f.file, path: pointer, ...(line === undefined ? {} : { line }), severity, message });
  };
  const approvalTypes = new Set([...KNOWN_APPROVAL_TYPES, ...(context.approvalTypes ?? [])]);

  const parameters = new Map<string, Scalar | readonly Scalar[]>();
  for (const f of files) {
    for (const [name, spec] of Object.entries(f.content.parameters ?? {})) {
      if (parameters.has(name)) report(f, `/parameters/${name}`, 'error', `parameter "${name}" is defined in more than one file`);
      else parameters.set(name, spec.value);
    }
  }

  const ruleIds = new Set<string>();
  for (const f of files) {
    f.content.rules.forEach((rule, index) => {
      const at = `/rules/${index}`;
      if (ruleIds.has(rule.id)) report(f, `${at}/id`, 'error', `rule id "${rule.id}" is used more than once in the policy set`);
      ruleIds.add(rule.id);

      const checkValue = (pointer: string, value: unknown, want: 'number' | 'list' | 'scalar'): Scalar | readonly Scalar[] | undefined => {
        if (!isParamRef(value)) return value as Scalar;
        const resolved = parameters.get(value.param);
        if (resolved === undefined) {
          report(f, pointer, 'error', `unknown parameter "${value.param}"`);
          return undefined;
        }
        const ok = want === 'number' ? typeof resolved === 'number' : want === 'list' ? Array.isArray(resolved) : !Array.isArray(resolved);
        if (!ok) report(f, pointer, 'error', `parameter "${value.param}" must be a ${want}`);
        return resolved;
      };

      const checkTest = (test: FactTest, pointer: string): void => {
        const fact = lookupFact(test.fact);
        const operator = operatorOf(test);
        if (!fact) {
          report(f, `${pointer}/fact`, 'error', `unknown fact "${test.fact}"`);
          return;
        }
        const approvalType = approvalTypeOfFact(test.fact);
        if (approvalType && !approvalTypes.has(approvalType)) report(f, `${pointer}/fact`, 'warning', `unknown approval type "${approvalType}"`);
        const want = NUMERIC.has(operator) ? 'number' : operator === 'in' || operator === 'notIn' ? 'list' : 'scalar';
        const value = operator === 'exists' || operator === 'absent' ? undefined : checkValue(`${pointer}/${operator}`, test[operator], want);
        if (NUMERIC.has(operator) && fact.type !== 'number' && fact.type !== 'any') {
          report(f, `${pointer}/${operator}`, 'error', `"${test.fact}" is a ${fact.type}, not a number`);
        }
        if (fact.values && (operator === 'equals' || operator === 'in')) {
          const wanted = operator === 'in' ? ((value as Scalar[] | undefined) ?? []) : value === undefined ? [] : [value as Scalar];
          if (operator === 'in' && wanted.length === 0) report(f, `${pointer}/in`, 'warning', 'an empty list never matches');
          const impossible = wanted.filter((v) => !fact.values?.includes(v));
          if (impossible.length > 0 && impossible.length === wanted.length) {
            report(f, `${pointer}/${operator}`, 'warning', `never matches: "${test.fact}" is one of ${fact.values.map((v) => JSON.stringify(v)).join(', ')}`);
          }
        }
      };

      const walk = (condition: Condition, pointer: string): void => {
        if ('all' in condition) {
          condition.all.forEach((c, i) => walk(c, `${pointer}/all/${i}`));
          checkContradictions(condition.all, pointer, parameters, (message) => report(f, pointer, 'warning', message));
        } else if ('any' in condition) condition.any.forEach((c, i) => walk(c, `${pointer}/any/${i}`));
        else if ('not' in condition) walk(condition.not, `${pointer}/not`);
        else checkTest(condition, pointer);
      };
      walk(rule.when, `${at}/when`);

      const obligations = rule.obligations;
      if (obligations?.maxRetentionDays !== undefined) checkValue(`${at}/obligations/maxRetentionDays`, obligations.maxRetentionDays, 'number');
      if (obligations?.maxSizeBytes !== undefined) checkValue(`${at}/obligations/maxSizeBytes`, obligations.maxSizeBytes, 'number');
      obligations?.requireApprovals?.forEach((type, i) => {
        if (!approvalTypes.has(type)) report(f, `${at}/obligations/requireApprovals/${i}`, 'warning', `unknown approval type "${type}"`);
      });
      obligations?.escrowTo?.forEach((id, i) => {
        if (context.institutions && !context.institutions.has(id)) report(f, `${at}/obligations/escrowTo/${i}`, 'error', `"${id}" is not a registered institution`);
      });
      if (context.institutions) checkInstitutionIds(rule.when, `${at}/when`, context.institutions, (pointer, message) => report(f, pointer, 'error', message));
    });
  }
  return problems;
}

/** Tests on sender.id / recipient.id must name registered institutions. */
function checkInstitutionIds(condition: Condition, pointer: string, institutions: ReadonlySet<string>, report: (pointer: string, message: string) => void): void {
  if ('all' in condition) condition.all.forEach((c, i) => checkInstitutionIds(c, `${pointer}/all/${i}`, institutions, report));
  else if ('any' in condition) condition.any.forEach((c, i) => checkInstitutionIds(c, `${pointer}/any/${i}`, institutions, report));
  else if ('not' in condition) checkInstitutionIds(condition.not, `${pointer}/not`, institutions, report);
  else if (condition.fact === 'sender.id' || condition.fact === 'recipient.id') {
    const operator = operatorOf(condition);
    const raw = condition[operator];
    const ids = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
    for (const id of ids) if (typeof id === 'string' && !institutions.has(id)) report(`${pointer}/${operator}`, `"${id}" is not a registered institution`);
  }
}

/** Within one `all`: two different `equals` on one fact, or numeric bounds that leave no value. */
function checkContradictions(
  conditions: readonly Condition[],
  pointer: string,
  parameters: ReadonlyMap<string, Scalar | readonly Scalar[]>,
  warn: (message: string) => void,
): void {
  const value = (v: unknown): unknown => (isParamRef(v) ? parameters.get(v.param) : v);
  const equals = new Map<string, unknown>();
  const lower = new Map<string, { value: number; inclusive: boolean }>();
  const upper = new Map<string, { value: number; inclusive: boolean }>();
  for (const condition of conditions) {
    if (!('fact' in condition)) continue;
    const { fact } = condition;
    if (condition.equals !== undefined) {
      const v = value(condition.equals);
      if (equals.has(fact) && equals.get(fact) !== v) warn(`never matches: ${fact} cannot equal both ${JSON.stringify(equals.get(fact))} and ${JSON.stringify(v)} (${pointer})`);
      equals.set(fact, v);
    }
    for (const [op, bounds, inclusive] of [['gt', lower, false], ['gte', lower, true], ['lt', upper, false], ['lte', upper, true]] as const) {
      const v = value(condition[op]);
      if (typeof v === 'number') bounds.set(fact, { value: v, inclusive });
    }
  }
  for (const [fact, low] of lower) {
    const high = upper.get(fact);
    if (high && (low.value > high.value || (low.value === high.value && !(low.inclusive && high.inclusive)))) {
      warn(`never matches: no value of ${fact} is both above ${low.value} and below ${high.value}`);
    }
  }
}
