// The US Data Security Program counts bulk data over 12 months across every transfer of one US
// sender to one counterpart (28 CFR 202.205): the gateway sums its own records for the pair, adds the
// manifest's count, and decides under the pair's lock. Over real TLS, with the default policy set:
// embedded (one process, records in files) and shared (two gateways on one PostgreSQL database).
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { removeTestBucket, testS3Client, uniqueTestBucket, type TestS3Location } from '../support/s3.js';
import { createTransfer } from '../support/transfers.js';

const usInstitute = devIdentity('institutions/us-genomics-institute');
const officer = devIdentity('people/officer-chan');

/** Genomic data of `genomic` US persons from the US institute to a zone institution. */
function usGenomics(recipient: string, genomic: number): object {
  return {
    recipient,
    project: { id: 'proj-us-zone-genomics', title: 'US–zone genomics' },
    purpose: 'joint-research',
    dataset: { category: 'genomics', format: 'vcf', genomicScope: 'exome', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: genomic, humanGeneticResources: false, sizeBytes: 1000 },
    approvals: [],
    consent: { basis: 'broad-research-consent' },
    retentionDays: 365,
    us: { personCounts: { genomic } },
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function expectBulkRefusal(result: { status: number; body: Record<string, unknown> }): Promise<void> {
  expect(result.status).toBe(403);
  expect(result.body).toMatchObject({ code: 'ERR_POLICY_DENIED' });
  expect(result.body.reasons).toContainEqual(expect.objectContaining({ ruleId: 'us-dsp-bulk-omic-prohibited-deny', jurisdiction: 'US' }));
}

describe('US persons a pair carried over 12 months, embedded', () => {
  let gw: TestGateway;

  it('adds the pair’s earlier transfers: at the threshold allowed, one more refused; another pair counts apart; a cancelled transfer no longer counts', async () => {
    gw = await startTestGateway();
    cleanups.push(() => gw.close());
    const api = gw.gateway.apiUrl;
    const first = await createTransfer(api, usInstitute, usGenomics('hk-uni-genomics', 60));
    expect(first.status).toBe(201);
    expect((await createTransfer(api, usInstitute, usGenomics('hk-uni-genomics', 40))).status).toBe(201); // 100: bulk is more than 100
    await expectBulkRefusal(await createTransfer(api, usInstitute, usGenomics('hk-uni-genomics', 1)));
    // The officer's dry run decides on the same sum.
    const dryRun = await call(api, officer, '/v1/policies/evaluate', { method: 'POST', json: { from: 'us-genomics-institute', manifest: usGenomics('hk-uni-genomics', 1) } });
    expect(dryRun.body).toMatchObject({ decision: { effect: 'deny' } });
    // Another counterpart is another pair.
    expect((await createTransfer(api, usInstitute, usGenomics('hetao-sz-institute', 100))).status).toBe(201);
    // A transfer cancelled carried nothing: its persons no longer count.
    expect((await call(api, usInstitute, `/v1/transfers/${String(first.body.id)}`, { method: 'DELETE' })).status).toBe(200);
    expect((await createTransfer(api, usInstitute, usGenomics('hk-uni-genomics', 60))).status).toBe(201);
    await expectBulkRefusal(await createTransfer(api, usInstitute, usGenomics('hk-uni-genomics', 1)));
  });

  it('decides concurrent transfers of one pair one after another: of five asking for 60 each, exactly one passes', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => createTransfer(gw.gateway.apiUrl, usInstitute, usGenomics('sz-hospital', 60))));
    expect(results.filter((result) => result.status === 201)).toHaveLength(1);
    for (const refused of results.filter((result) => result.status !== 201)) await expectBulkRefusal(refused);
  });
});

describe('US persons a pair carried over 12 months, shared mode', () => {
  let database: TestDatabase;
  let s3: TestS3Location;
  const gateways: TestGateway[] = [];

  const sharedGateway = async (): Promise<TestGateway> => {
    const gateway = await startTestGateway({
      HETAO_DATABASE_URL: database.url,
      HETAO_S3_ENDPOINT: s3.endpoint,
      HETAO_S3_BUCKET: s3.bucket,
      HETAO_S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      HETAO_S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      HETAO_S3_FORCE_PATH_STYLE: 'true',
    });
    gateways.push(gateway);
    cleanups.push(() => gateway.close());
    return gateway;
  };

  it('two gateways on one database decide concurrent transfers of one pair on one sum: of six asking for 60 each, through both, exactly one passes', async () => {
    database = await createTestDatabase();
    cleanups.push(() => database.drop());
    s3 = uniqueTestBucket();
    const client = testS3Client(s3);
    await client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
    client.destroy();
    cleanups.push(() => removeTestBucket(s3));
    const [a, b] = [await sharedGateway(), await sharedGateway()] as [TestGateway, TestGateway];
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => createTransfer((i % 2 ? a : b).gateway.apiUrl, usInstitute, usGenomics('hk-uni-genomics', 60))),
    );
    expect(results.filter((result) => result.status === 201)).toHaveLength(1);
    for (const refused of results.filter((result) => result.status !== 201)) await expectBulkRefusal(refused);
    // Either instance sees the pair at 60 now: 40 more pass, then nothing.
    expect((await createTransfer(a.gateway.apiUrl, usInstitute, usGenomics('hk-uni-genomics', 40))).status).toBe(201);
    await expectBulkRefusal(await createTransfer(b.gateway.apiUrl, usInstitute, usGenomics('hk-uni-genomics', 1)));
  });
});
