// The manifests of the demo, shaped after the default policies' own test cases
// (policies/tests/*.cases.yaml) so that each gets the decision the walkthrough shows.
// sendFile fills in dataset.sizeBytes and dataset.sha256 from the file.

const JOINT_PROJECT = { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' };

/** The hospital's HGR filing and GBA contract filing for the joint project (policies/registry.yaml). */
export const HGR_FILING_ID = 'HGR-BF-2026-0345';
export const GBA_CONTRACT_FILING_ID = 'GBA-SC-GD-2026-0101';

/**
 * Exome data from the Shenzhen hospital to the Hong Kong genomics lab (30-hgr.cases.yaml,
 * "sz-genomics-to-hk"): allowed by hgr-outbound-filing-and-backup, with escrow to the HGR office.
 */
export function hgrGenomicsManifest(samples: number): Record<string, unknown> {
  return {
    recipient: 'hk-uni-genomics',
    project: JOINT_PROJECT,
    purpose: 'joint-research',
    dataset: {
      category: 'genomics',
      format: 'vcf',
      genomicScope: 'exome',
      classification: { level: 'L3' },
      deidentification: 'pseudonymised',
      subjects: samples,
      humanGeneticResources: true,
    },
    approvals: [
      { type: 'hgr-filing', id: HGR_FILING_ID },
      { type: 'gba-standard-contract-filing', id: GBA_CONTRACT_FILING_ID },
    ],
    consent: { basis: 'separate-consent', reference: 'SZFH-CONSENT-2026-017' },
    retentionDays: 365,
  };
}

/**
 * Identified clinical-trial patient records from the Hong Kong lab to the Chengdu institute, which
 * is registered but outside the zone, under broad research consent only: two deny rules match
 * (clinical-trial-outside-zone-deny, hk-to-mainland-without-consent-deny).
 */
export function identifiedRecordsOutsideZoneManifest(): Record<string, unknown> {
  return {
    recipient: 'cn-outside-institute',
    project: JOINT_PROJECT,
    purpose: 'clinical-trial',
    dataset: {
      category: 'medical-records',
      format: 'csv',
      classification: { level: 'L4' },
      deidentification: 'identified',
      subjects: 40,
      humanGeneticResources: false,
      sizeBytes: 18_000,
    },
    approvals: [],
    consent: { basis: 'broad-research-consent' },
    retentionDays: 365,
  };
}

/** Research data declared anonymised, from the hospital to the Shenzhen Park institute (the README's walkthrough). */
export function anonymisedCsvManifest(subjects: number): Record<string, unknown> {
  return {
    recipient: 'hetao-sz-institute',
    project: JOINT_PROJECT,
    purpose: 'joint-research',
    dataset: {
      category: 'research-other',
      format: 'csv',
      classification: { level: 'L2' },
      deidentification: 'anonymised',
      subjects,
      humanGeneticResources: false,
    },
    approvals: [],
    consent: { basis: 'not-personal-information' },
    retentionDays: 30,
  };
}
