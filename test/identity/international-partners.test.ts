// The zone's international partners (issue 17): an EU university hospital and a US genomics
// institute, registered outside the zone under their own jurisdictions, with their officers. They
// authenticate like any institution, and genomic data to or from them that lacks the facts their
// law asks for is refused by that law's rules, named with its jurisdiction: unknown means deny, in
// both directions.
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
    ['eu-uniklinik', 'hetao-sz-institute', 'EU'], // no GDPR status, transfer tool or Art 9 basis
    ['us-genomics-institute', 'hk-uni-genomics', 'US'], // US persons not counted
    ['sz-hospital', 'eu-uniklinik', 'EU'], // no EU recipient controller or Art 9 basis
  ])('genomic data from %s to %s without the facts their law asks for is refused by a rule of %s', async (sender, recipient, jurisdiction) => {
    const created = await createTransfer(gw.gateway.apiUrl, devIdentity(`institutions/${sender}`), genomicsTo(recipient));
    expect(created.status).toBe(403);
    expect(created.body).toMatchObject({ code: 'ERR_POLICY_DENIED' });
    expect(created.body.reasons).toContainEqual(expect.objectContaining({ jurisdiction }));
  });

  it('genomic data from Hong Kong to the US institute goes with the subjects’ prescribed consent (PDPO DPP3), and not without it', async () => {
    const hk = devIdentity('institutions/hk-uni-genomics');
    expect((await createTransfer(gw.gateway.apiUrl, hk, genomicsTo('us-genomics-institute'))).status).toBe(201);
    const refused = await createTransfer(gw.gateway.apiUrl, hk, { ...genomicsTo('us-genomics-institute'), consent: { basis: 'broad-research-consent' } });
    expect(refused.status).toBe(403);
    expect(refused.body.reasons).toContainEqual(expect.objectContaining({ ruleId: 'hk-outbound-without-consent-deny', jurisdiction: 'HK' }));
  });
});
