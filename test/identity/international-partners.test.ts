// The zone's international partners (issue 17): an EU university hospital and a US genomics
// institute, registered outside the zone under their own jurisdictions, with their officers. They
// authenticate like any institution; until policy files for their law exist, no rule allows personal
// or genomic data to or from them, so unknown means deny, in both directions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createTransfer } from '../support/transfers.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const genomicsTo = (recipient: string) => ({
  recipient,
  project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
  purpose: 'joint-research',
  dataset: { category: 'genomics', format: 'vcf', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 40, humanGeneticResources: false, sizeBytes: 1000 },
  approvals: [],
  consent: { basis: 'separate-consent' },
  retentionDays: 30,
});

describe('international partners', () => {
  it.each([
    ['eu-uniklinik', 'DE'],
    ['us-genomics-institute', 'US'],
  ])('%s authenticates as an institution of %s outside the zone', async (id, jurisdiction) => {
    const whoami = await call(gw.gateway.apiUrl, devIdentity(`institutions/${id}`), '/v1/whoami');
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({ kind: 'institution', id, institution: { id, jurisdiction, zone: 'outside', status: 'active' } });
  });

  it.each([
    ['dpo-weber', 'eu-uniklinik'],
    ['officer-miller', 'us-genomics-institute'],
  ])('%s is a security officer of %s', async (person, institution) => {
    const whoami = await call(gw.gateway.apiUrl, devIdentity(`people/${person}`), '/v1/whoami');
    expect(whoami.body).toMatchObject({ kind: 'person', id: person, role: 'security-officer', institution: { id: institution } });
  });

  it.each([
    ['eu-uniklinik', 'hetao-sz-institute'],
    ['us-genomics-institute', 'hk-uni-genomics'],
    ['sz-hospital', 'eu-uniklinik'],
    ['hk-uni-genomics', 'us-genomics-institute'],
  ])('genomic data from %s to %s is denied while no rule of theirs allows it', async (sender, recipient) => {
    const created = await createTransfer(gw.gateway.apiUrl, devIdentity(`institutions/${sender}`), genomicsTo(recipient));
    expect(created.status).toBe(403);
    expect(created.body).toMatchObject({ code: 'ERR_POLICY_DENIED' });
  });
});
