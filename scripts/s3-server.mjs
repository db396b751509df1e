#!/usr/bin/env node
// A local S3-compatible server for tests, benches and the docker-compose shared-mode deployment:
// s3rver (@20minutes/s3rver, a maintained fork that runs on Node 20) keeping objects in a folder.
// s3rver has no AbortMultipartUpload and no ListMultipartUploads; the gateway's S3 store uses both
// (an upload that fails, or whose instance died, must not leave its parts behind), so this script
// adds the two operations, as the S3 API reference defines them, over s3rver's own folder layout
// (an upload's parts live in `<bucket>/._S3rver_uploads/<uploadId>/`, its key in the file `key`).
// It also answers UploadPart and CompleteMultipartUpload of an upload that does not exist (aborted)
// with NoSuchUpload, as S3 does (s3rver would store the part in a fresh folder, then fail with a 500),
// and checks the signature of a bucket request sent as `/bucket/` (the AWS SDK v3 sends CreateBucket,
// HeadBucket, ListObjectsV2… so) on that path: s3rver signs `/bucket` and would refuse them. And it
// answers a range of the first byte alone (`bytes=0-0`) with that byte, not the whole object.
//
//   node scripts/s3-server.mjs --dir <folder> [--port 0] [--address 127.0.0.1] [--bucket name]...
// Prints one JSON line {"endpoint": "http://127.0.0.1:<port>"} once it listens; stops on SIGTERM.
// Credentials: access key S3RVER, secret S3RVER (s3rver checks SigV4 signatures against those).
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import S3rver from '@20minutes/s3rver';

// s3rver's own SigV4 check, run before the two added operations as its router runs it before its own.
const authenticate = createRequire(import.meta.url)('@20minutes/s3rver/lib/middleware/authentication.js')();

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    address: { type: 'string', default: '127.0.0.1' },
    bucket: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.dir) {
  console.error('usage: s3-server.mjs --dir <folder> [--port 0] [--address 127.0.0.1] [--bucket name]...');
  process.exit(2);
}
const directory = path.resolve(values.dir);
await mkdir(directory, { recursive: true });

const server = new S3rver({
  address: values.address,
  port: Number(values.port),
  directory,
  silent: true,
  configureBuckets: values.bucket.map((name) => ({ name })),
});

const uploadsDir = (bucket) => path.join(directory, bucket, '._S3rver_uploads');
const xml = (ctx, status, body) => {
  ctx.status = status;
  ctx.body = body;
};
const noSuchUpload = (ctx, uploadId) =>
  xml(ctx, 404, { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.', UploadId: uploadId } });

const uploadExists = async (bucket, uploadId) =>
  /^[A-Za-z0-9_-]+$/.test(uploadId) &&
  stat(path.join(uploadsDir(bucket), uploadId, 'key')).then(
    () => true,
    () => false,
  );

/**
 * AbortMultipartUpload (DELETE /bucket/key?uploadId=…), ListMultipartUploads (GET /bucket?uploads),
 * NoSuchUpload for UploadPart and CompleteMultipartUpload of an unknown upload, and the signature of
 * bucket requests sent as `/bucket/`.
 */
async function multipartExtensions(ctx, next) {
  const [bucket, ...keyParts] = ctx.path.split('/').filter((part) => part !== '');
  const query = ctx.query;
  const abort = ctx.method === 'DELETE' && bucket && keyParts.length > 0 && typeof query.uploadId === 'string';
  const list = ctx.method === 'GET' && bucket && keyParts.length === 0 && 'uploads' in query;
  // A part or completion racing an abort may still slip past this check; then s3rver keeps an orphan folder.
  const unknownUpload =
    ['PUT', 'POST'].includes(ctx.method) && bucket && keyParts.length > 0 && typeof query.uploadId === 'string' && !(await uploadExists(bucket, query.uploadId));
  const slashedBucket = bucket && keyParts.length === 0 && ctx.path.endsWith('/');
  if (!abort && !list && !unknownUpload && !slashedBucket) return next();
  // The resource signed is the path as sent: `/bucket/` for a bucket request ending in a slash.
  ctx.params = keyParts.length > 0 ? { bucket, key: keyParts.map(decodeURIComponent).join('/') } : { bucket: slashedBucket ? `${bucket}/` : bucket };
  // s3rver's own check, after its router, passes a request whose signature was verified here.
  if (!abort && !list && !unknownUpload) return authenticate(ctx, next);
  return authenticate(ctx, async () => {
    if (unknownUpload) {
      // Read the part's bytes first: answering before the body is in makes the client's write fail.
      for await (const chunk of ctx.req) void chunk;
      return noSuchUpload(ctx, query.uploadId);
    }
    if (abort) {
      if (!/^[A-Za-z0-9_-]+$/.test(query.uploadId)) return noSuchUpload(ctx, query.uploadId);
      const dir = path.join(uploadsDir(bucket), query.uploadId);
      const exists = await stat(dir).then(
        () => true,
        () => false,
      );
      if (!exists) return noSuchUpload(ctx, query.uploadId);
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return undefined;
    }
    const prefix = typeof query.prefix === 'string' ? query.prefix : '';
    const uploads = [];
    const ids = await readdir(uploadsDir(bucket)).catch(() => []);
    for (const uploadId of ids.sort()) {
      const dir = path.join(uploadsDir(bucket), uploadId);
      const key = await readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined);
      if (key === undefined || !key.startsWith(prefix)) continue;
      const { birthtime } = await stat(dir);
      uploads.push({ Key: key, UploadId: uploadId, Initiated: birthtime.toISOString(), StorageClass: 'STANDARD' });
    }
    return xml(ctx, 200, {
      ListMultipartUploadsResult: { Bucket: bucket, Prefix: prefix, MaxUploads: 1000, IsTruncated: false, Upload: uploads },
    });
  });
}
/**
 * s3rver reads `Range: bytes=0-0` (the first byte) as `bytes=0-` and answers the whole object: cut
 * its answer down to the one byte asked for, as S3 answers.
 */
async function firstByteRange(ctx, next) {
  const firstByteOnly = ctx.method === 'GET' && ctx.get('range') === 'bytes=0-0';
  await next();
  if (!firstByteOnly || ctx.status !== 206 || !ctx.body || typeof ctx.body.pipe !== 'function') return;
  const size = ctx.response.get('Content-Range').split('/')[1];
  const content = ctx.body;
  let first = Buffer.alloc(0);
  for await (const chunk of content) {
    first = chunk.subarray(0, 1);
    break;
  }
  content.destroy();
  ctx.body = first;
  ctx.set('Content-Range', `bytes 0-0/${size}`);
}

// After s3rver's own signature, XML and path handling, before its router.
server.middleware.splice(server.middleware.length - 1, 0, multipartExtensions, firstByteRange);

const address = await server.run();
process.stdout.write(`${JSON.stringify({ endpoint: `http://${values.address}:${address.port}` })}\n`);

const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
