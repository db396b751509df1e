// The transfer manifest a lab system declares: validated against schemas/transfer-manifest.schema.json
// with every error reported at once, defaults filled in, and hashed canonically (RFC 8785). Before
// anything recurses over it (structuredClone, ajv, the canonicaliser) its depth is bounded and its
// strings must be well-formed Unicode: a manifest with a lone surrogate has no canonical hash.
import { schemaValidator } from '../input/schema-validator.js';
import { createHash } from 'node:crypto';
import { toCanonicalJson } from '../audit/canonical-json.js';
import { GatewayError } from '../errors.js';
import { findJsonValueProblem } from '../input/json-bounds.js';
import { describeSchemaErrors } from '../input/schema-problems.js';
import manifestSchema from '../../schemas/transfer-manifest.schema.json' with { type: 'json' };

export type DatasetCategory = 'genomics' | 'medical-records' | 'clinical-trial' | 'research-other';
export type Deidentification = 'identified' | 'pseudonymised' | 'anonymised' | 'aggregate';

export interface Manifest {
  readonly recipient: string;
  readonly project: { readonly id: string; readonly title: string };
  readonly purpose: string;
  readonly dataset: {
    readonly category: DatasetCategory;
    readonly format: string;
    readonly genomicScope?: 'none' | 'panel' | 'exome' | 'whole-genome';
    readonly classification: { readonly level: 'L1' | 'L2' | 'L3' | 'L4' | 'L5'; readonly important: boolean; readonly core: boolean };
    readonly deidentification: Deidentification;
    readonly subjects: number;
    readonly humanGeneticResources: boolean;
    readonly sizeBytes: number;
    readonly sha256?: string;
  };
  readonly approvals: readonly { readonly type: string; readonly id: string }[];
  readonly consent: { readonly basis: string; readonly reference?: string };
  readonly retentionDays: number;
  readonly onwardTransfer: boolean;
  readonly deliveryFormat?: 'hetao-envelope' | 'crypt4gh';
  readonly eu?: EuFacts;
  readonly us?: UsFacts;
}

/** GDPR Chapter V / EHDS facts (schemas/transfer-manifest.schema.json `eu`). */
export interface EuFacts {
  readonly status?: 'personal' | 'pseudonymised' | 'anonymised';
  readonly anonymisationReport?: string;
  readonly transferMechanism?: 'scc-2021-914' | 'art49-explicit-consent';
  readonly sccModule?: 1 | 2 | 3 | 4;
  readonly sccSignedOn?: string;
  readonly tia?: { readonly reference: string; readonly reviewedOn: string };
  readonly keysHeldInEu?: boolean;
  readonly art6Basis?: string;
  readonly art9Basis?: { readonly condition: '9-2-a' | '9-2-j'; readonly reference: string; readonly ethicsApproval?: string };
  readonly art49?: { readonly consentIds: readonly string[]; readonly riskNoticeVersion: string; readonly oneOff: boolean };
  readonly ehdsPermitId?: string;
  readonly minCellSize?: number;
  readonly recipientGdprController?: string;
}

/** US Data Security Program / NIH / HIPAA facts (schemas/transfer-manifest.schema.json `us`). */
export interface UsFacts {
  readonly personCounts?: Partial<UsPersonCounts>;
  readonly transaction?: 'data-brokerage' | 'vendor' | 'employment' | 'investment';
  readonly dspExemption?: { readonly section: '202.504' | '202.507' | '202.510' | '202.511'; readonly reference: string };
  readonly dspLicenseId?: string;
  readonly cisaSecurityRequirements?: boolean;
  readonly dataComplianceProgram?: string;
  readonly sourceRepository?: string;
  readonly hipaa?: { readonly status: string; readonly reference?: string };
}

/** Data categories the US Data Security Program counts in US persons (28 CFR 202.205, 202.222–202.224). */
export const US_PERSON_CATEGORIES = ['genomic', 'otherOmic', 'biometric', 'geolocation', 'health', 'financial', 'identifiers'] as const;
export type UsPersonCategory = (typeof US_PERSON_CATEGORIES)[number];
export type UsPersonCounts = Readonly<Record<UsPersonCategory, number>>;

const manifestValidator = schemaValidator<Manifest>(manifestSchema, { allErrors: true, strict: true, useDefaults: true, allowUnionTypes: true });

export { manifestSchema };

/**
 * Validates a manifest (a deep copy is validated, so the caller's object is left as it was).
 * @throws GatewayError ERR_MANIFEST_INVALID with `problems` (JSON path + message) for every schema
 *   error, or for the first value JSON may not carry (nesting deeper than the JSON bound, a lone
 *   surrogate), which is looked for first.
 */
export function parseManifest(body: unknown): Manifest {
  const unfit = findJsonValueProblem(body);
  if (unfit) throw new GatewayError('ERR_MANIFEST_INVALID', 'the transfer manifest is invalid', { problems: [unfit] });
  const copy = structuredClone(body) as unknown;
  const validate = manifestValidator();
  if (!validate(copy)) {
    throw new GatewayError('ERR_MANIFEST_INVALID', 'the transfer manifest is invalid', { problems: describeSchemaErrors(validate.errors ?? []) });
  }
  return deepFreeze(copy);
}

/**
 * SHA-256 of the manifest's RFC 8785 canonical JSON, lowercase hex: the hash the audit records carry.
 * @throws GatewayError ERR_MANIFEST_INVALID when the manifest has no canonical form.
 */
export function hashManifest(manifest: Manifest): string {
  return createHash('sha256').update(toCanonicalJson(manifest, { code: 'ERR_MANIFEST_INVALID' }) ?? '').digest('hex');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
