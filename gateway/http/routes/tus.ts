// Resumable uploads over the tus 1.0 protocol (core, creation, termination, expiration) at
// /v1/transfers/:id/tus: the transfer's own upload URL, so tus clients either create it (POST with
// Upload-Length, the declared size) or are given it and start with HEAD. Every answer carries
// Tus-Resumable; refusals are problem+json like every other. The work is the resumable-uploads
// service's (transfer/resumable-uploads.ts).
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import type { ResumableUploads, UploadProgress } from '../../transfer/resumable-uploads.js';
import { callerOf } from '../principal-of.js';

const TUS_VERSION = '1.0.0';
const TUS_EXTENSIONS = 'creation,termination,expiration';
const OFFSET_STREAM = 'application/offset+octet-stream';
/** The largest transfer a manifest may declare (schemas/transfer-manifest.schema.json). */
const TUS_MAX_SIZE = Number.MAX_SAFE_INTEGER;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^tr-[0-9a-z]{9}-[0-9a-f]{16}$' } } } as const;

/** A non-negative integer header, or a 400 naming it. */
function integerHeader(request: FastifyRequest, name: string): number {
  const value = request.headers[name];
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value)) throw new GatewayError('ERR_REQUEST_INVALID', `the ${name} header must be a non-negative integer`);
  return Number(value);
}

function withProgress(reply: FastifyReply, progress: UploadProgress): FastifyReply {
  return reply.header('upload-offset', String(progress.offset)).header('upload-expires', new Date(progress.expiresAt).toUTCString());
}

export async function tusRoutes(app: FastifyInstance, { uploads }: { uploads: ResumableUploads }): Promise<void> {
  // PATCH bodies are handed on as the raw stream; the parser lives in this plugin only.
  app.addContentTypeParser(OFFSET_STREAM, (_request, payload, done) => done(null, payload));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('tus-resumable', TUS_VERSION);
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    if (request.headers['tus-resumable'] !== TUS_VERSION) {
      reply.header('tus-version', TUS_VERSION);
      throw new GatewayError('ERR_TUS_VERSION_UNSUPPORTED', `this gateway speaks tus ${TUS_VERSION}; send Tus-Resumable: ${TUS_VERSION}`);
    }
  });

  const url = '/transfers/:id/tus';
  app.options<{ Params: { id: string } }>(url, { schema: { params: idParams } }, async (_request, reply) =>
    reply.code(204).header('tus-version', TUS_VERSION).header('tus-extension', TUS_EXTENSIONS).header('tus-max-size', String(TUS_MAX_SIZE)).send(),
  );

  app.post<{ Params: { id: string } }>(url, { schema: { params: idParams } }, async (request, reply) => {
    if (request.headers['upload-defer-length'] !== undefined) throw new GatewayError('ERR_REQUEST_INVALID', 'the manifest declares the size: Upload-Defer-Length is not supported');
    const progress = await uploads.create(request.params.id, callerOf(request), integerHeader(request, 'upload-length'));
    return withProgress(reply.code(201).header('location', `/v1/transfers/${request.params.id}/tus`), progress).send();
  });

  app.head<{ Params: { id: string } }>(url, { schema: { params: idParams } }, async (request, reply) => {
    const progress = await uploads.progress(request.params.id, callerOf(request));
    return withProgress(reply.code(200).header('upload-length', String(progress.length)).header('cache-control', 'no-store'), progress).send();
  });

  app.patch<{ Params: { id: string } }>(url, { schema: { params: idParams }, config: { bulkContent: 'resumable-upload' } }, async (request, reply) => {
    if ((request.headers['content-type'] ?? '').split(';')[0]?.trim() !== OFFSET_STREAM) throw new GatewayError('ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED', `a tus PATCH sends ${OFFSET_STREAM}`);
    const offset = integerHeader(request, 'upload-offset');
    const progress = await uploads.append(request.params.id, callerOf(request), offset, request.body as Readable);
    if (progress.record) reply.header('location', `/v1/transfers/${request.params.id}`);
    return withProgress(reply.code(204), progress).send();
  });

  app.delete<{ Params: { id: string } }>(url, { schema: { params: idParams } }, async (request, reply) => {
    await uploads.terminate(request.params.id, callerOf(request));
    return reply.code(204).send();
  });
}
