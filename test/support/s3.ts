// S3 for tests: the run's local S3 server (scripts/s3-server.mjs, started by test/global-setup.ts);
// every test creates a bucket of its own and removes it afterwards. Tests that stop or kill a server
// start one of their own (s3-server-process.ts).
import { randomBytes } from 'node:crypto';
import { AbortMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';

// The SDK's own switch for its NodeVersionSupportWarning (its releases after January 2027 need Node
// 22); read when a client is made, so set before any test makes one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** s3rver's fixed credentials; it checks SigV4 signatures against them. */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface TestS3Location {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly credentials: typeof TEST_S3_CREDENTIALS;
}

/** A bucket name no other test uses (the bucket is created by whoever uses it: the store or the test). */
export function uniqueTestBucket(endpoint: string = inject('s3Endpoint')): TestS3Location {
  return { endpoint, region: 'us-east-1', bucket: `hetao-test-${randomBytes(6).toString('hex')}`, credentials: TEST_S3_CREDENTIALS };
}

/** A plain SDK client on the location, for what a test checks behind the store's back. */
export function testS3Client(location: TestS3Location): S3Client {
  return new S3Client({ endpoint: location.endpoint, region: location.region, credentials: location.credentials, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

/** The multipart uploads begun and neither completed nor aborted in the bucket. */
export async function multipartUploadsIn(location: TestS3Location): Promise<{ key: string; uploadId: string }[]> {
  const client = testS3Client(location);
  try {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: location.bucket }));
    return (page.Uploads ?? []).map((upload) => ({ key: upload.Key ?? '', uploadId: upload.UploadId ?? '' }));
  } finally {
    client.destroy();
  }
}

/** Removes the bucket with whatever is in it: multipart uploads, objects (absent bucket: nothing to do). */
export async function removeTestBucket(location: TestS3Location): Promise<void> {
  const client = testS3Client(location);
  try {
    for (const { key, uploadId } of await multipartUploadsIn(location)) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: location.bucket, Key: key, UploadId: uploadId }));
    }
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: location.bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: object.Key }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await client.send(new DeleteBucketCommand({ Bucket: location.bucket }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchBucket') throw error;
  } finally {
    client.destroy();
  }
}
