// The shape of a policy file as officers write it (schemas/policy.schema.json), before compilation.
import type { FileProblem } from '../input/schema-problems.js';

export type Scalar = string | number | boolean;
export interface ParamRef {
  readonly param: string;
}

export type Condition =
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition }
  | FactTest;

export interface FactTest {
  readonly fact: string;
  readonly equals?: Scalar | ParamRef;
  readonly notEquals?: Scalar | ParamRef;
  readonly in?: readonly Scalar[] | ParamRef;
  readonly notIn?: readonly Scalar[] | ParamRef;
  readonly gt?: number | ParamRef;
  readonly gte?: number | ParamRef;
  readonly lt?: number | ParamRef;
  readonly lte?: number | ParamRef;
  readonly exists?: true;
  readonly absent?: true;
}

export type Operator = Exclude<keyof FactTest, 'fact'>;
export const OPERATORS: readonly Operator[] = ['equals', 'notEquals', 'in', 'notIn', 'gt', 'gte', 'lt', 'lte', 'exists', 'absent'];

export interface ObligationsSpec {
  readonly requireApprovals?: readonly string[];
  readonly escrowTo?: readonly string[];
  readonly maxRetentionDays?: number | ParamRef;
  readonly maxSizeBytes?: number | ParamRef;
  readonly recipientReceipt?: true;
  readonly fullInspection?: true;
  readonly noOnwardTransfer?: true;
}

export interface RuleSpec {
  readonly id: string;
  readonly description: string;
  readonly basis: string;
  readonly unconfirmed?: string;
  readonly when: Condition;
  readonly effect: 'allow' | 'deny';
  readonly reason?: string;
  readonly obligations?: ObligationsSpec;
}

export interface ParameterSpec {
  readonly value: Scalar | readonly Scalar[];
  readonly description: string;
  readonly basis?: string;
  readonly unconfirmed?: boolean;
}

/** Whose rules a policy file holds (see schemas/policy.schema.json). */
export type PolicyJurisdiction = 'CN' | 'HK' | 'zone' | 'EU' | 'US';
export const POLICY_JURISDICTIONS: readonly PolicyJurisdiction[] = ['CN', 'HK', 'zone', 'EU', 'US'];

export interface PolicyFile {
  readonly version: 1;
  readonly description: string;
  readonly jurisdiction?: PolicyJurisdiction;
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  readonly rules: readonly RuleSpec[];
}

export function isParamRef(value: unknown): value is ParamRef {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as ParamRef).param === 'string';
}

/** A problem found in a policy file; errors refuse the set, warnings do not. */
export interface PolicyProblem extends FileProblem {
  readonly severity: 'error' | 'warning';
}
