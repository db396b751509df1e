// Manifests the tests send, in one place: an anonymised research CSV (allowed, finishes inline) and a
// core genomics dataset (for policy dry runs and manifest parsing).
import { createHash } from 'node:crypto';

const project = { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' };

/** Anonymised research data from the Shenzhen hospital to the Shenzhen institute: allowed by the default policies. */
export function anonymisedResearchManifest(content: Buffer, overrides: { retentionDays?: number } = {}) {
  return {
    recipient: 'hetao-sz-institute',
    project,
    purpose: 'joint-research',
    approvals: [],
    consent: { basis: 'not-personal-information' },
    retentionDays: overrides.retentionDays ?? 30,
    dataset: {
      category: 'research-other',
      format: 'csv',
      classification: { level: 'L2' },
      deidentification: 'anonymised',
      subjects: 2000,
      humanGeneticResources: false,
      sizeBytes: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    },
  };
}

/** Core genomic data (HGR) to the Hong Kong genomics lab, without approvals: a manifest to decide, not to upload. */
export const CORE_GENOMICS_MANIFEST = {
  recipient: 'hk-uni-genomics',
  project,
  purpose: 'joint-research',
  dataset: { category: 'genomics', format: 'vcf', classification: { level: 'L3', core: true }, deidentification: 'pseudonymised', subjects: 120, humanGeneticResources: true, sizeBytes: 1000 },
  approvals: [],
  consent: { basis: 'separate-consent' },
  retentionDays: 365,
} as const;
