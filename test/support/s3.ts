// S3 for tests: the run's local S3 server (scripts/s3-server.mjs, started by test/global-setup.ts);
// every test creates a bucket of its own and removes it afterwards.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** s3rver's fixed credentials; it checks SigV4 signatures against them. */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface TestS3Location {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly credentials: typeof TEST_S3_CREDENTIALS;
}

/** A bucket name no other test uses (the bucket is created by whoever uses it: the store or the test). */
export function uniqueTestBucket(): TestS3Location {
  return { endpoint: inject('s3Endpoint'), region: 'us-east-1', bucket: `hetao-test-${randomBytes(6).toString('hex')}`, credentials: TEST_S3_CREDENTIALS };
}
