// Transfer routes: manifest → decision, streamed upload, record, list, envelope download with
// Range, receipt, cancel. Each handler parses, calls the transfer service, and replies.
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { TRANSFER_STATUSES, type TransferRecord, type TransferStatus } from '../../transfer/transfer-record.js';
import type { TransferService } from '../../transfer/transfer-service.js';
import { callerOf } from '../principal-of.js';
import type { DownloadForm } from '../../transfer/stored-content.js';

const ENVELOPE_MEDIA_TYPE = 'application/vnd.hetao.envelope';

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range); undefined when there is no Range header. */
function parseRange(header: string | undefined, total: () => number): { start: number; end?: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) throw new GatewayError('ERR_TRANSFER_RANGE_INVALID', `unsupported Range ${header}`);
  if (match[1] === '') return { start: Math.max(total() - Number(match[2]), 0) };
  return { start: Number(match[1]), ...(match[2] === '' ? {} : { end: Number(match[2]) }) };
}

/**
 * A record as callers see it: the upload lease names gateway instances, and a resumable upload's
 * progress holds its key material sealed to the gateway's processing key: the gateway's business.
 */
function viewOf(record: TransferRecord): Omit<TransferRecord, 'lease' | 'resumable'> {
  const { lease: _lease, resumable: _resumable, ...view } = record;
  return view;
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^tr-[0-9a-z]{9}-[0-9a-f]{16}$' } } } as const;

export async function transferRoutes(app: FastifyInstance, { transfers }: { transfers: TransferService }): Promise<void> {
  // The upload body is handed on as the raw stream: the transfer service reads it in one pass. The
  // parser lives in this plugin only: no other route takes octet-streams.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post('/transfers', async (request, reply) => {
    const record = await transfers.create(callerOf(request), request.body);
    return reply
      .code(201)
      .header('location', `/v1/transfers/${record.id}`)
      .send({
        ...viewOf(record),
        upload: { method: 'PUT', href: `/v1/transfers/${record.id}/content`, contentType: 'application/octet-stream', sizeBytes: record.manifest.dataset.sizeBytes },
        // The same content, resumably: a tus client's endpoint (or upload URL, starting with HEAD).
        resumableUpload: { protocol: 'tus', version: '1.0.0', href: `/v1/transfers/${record.id}/tus`, sizeBytes: record.manifest.dataset.sizeBytes },
      });
  });

  app.put<{ Params: { id: string } }>('/transfers/:id/content', { schema: { params: idParams }, config: { bulkContent: 'upload' } }, async (request, reply) => {
    if (!(request.headers['content-type'] ?? '').startsWith('application/octet-stream')) throw new GatewayError('ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED', 'upload the content as application/octet-stream');
    const record = await transfers.upload(request.params.id, callerOf(request), request.body as Readable);
    // Queued: the content is stored, the heavy stages are still to run; poll the record for the outcome.
    return record.status === 'queued' ? reply.code(202).header('location', `/v1/transfers/${record.id}`).send(viewOf(record)) : viewOf(record);
  });

  app.get<{ Params: { id: string } }>('/transfers/:id', { schema: { params: idParams } }, async (request) => viewOf(await transfers.get(request.params.id, callerOf(request))));

  app.get<{ Querystring: { as: 'sender' | 'recipient'; status?: TransferStatus; after?: string; limit: number } }>(
    '/transfers',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            as: { enum: ['sender', 'recipient'], default: 'sender' },
            status: { enum: TRANSFER_STATUSES },
            after: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
      },
    },
    async (request) => {
      const page = await transfers.list(callerOf(request), request.query);
      return { transfers: page.records.map(viewOf), next: page.next ?? null };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { format?: DownloadForm } }>(
    '/transfers/:id/content',
    { schema: { params: idParams, querystring: { type: 'object', additionalProperties: false, properties: { format: { enum: ['hetao-envelope', 'crypt4gh'] } } } }, config: { bulkContent: 'download' } },
    async (request, reply) => {
      const caller = callerOf(request);
      const form = request.query.format ?? 'hetao-envelope';
      const record = await transfers.get(request.params.id, caller);
      const range = parseRange(request.headers.range, () => (form === 'crypt4gh' ? record.content?.crypt4ghSize : record.content?.envelopeSize) ?? 0);
      const download = await transfers.openDownload(request.params.id, caller, range, form);
      reply
        .header('content-type', form === 'crypt4gh' ? 'application/octet-stream' : ENVELOPE_MEDIA_TYPE)
        .header('accept-ranges', 'bytes')
        .header('content-length', String(download.end - download.start + 1))
        .header('content-disposition', `attachment; filename="${request.params.id}.${form === 'crypt4gh' ? 'c4gh' : 'hetao'}"`);
      if (download.partial) reply.code(206).header('content-range', `bytes ${download.start}-${download.end}/${download.total}`);
      return reply.send(download.stream);
    },
  );

  app.post<{ Params: { id: string }; Body: { sha256: string } }>(
    '/transfers/:id/receipt',
    { schema: { params: idParams, body: { type: 'object', additionalProperties: false, required: ['sha256'], properties: { sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } } },
    async (request) => viewOf(await transfers.receipt(request.params.id, callerOf(request), request.body.sha256)),
  );

  app.delete<{ Params: { id: string } }>('/transfers/:id', { schema: { params: idParams } }, async (request) => viewOf(await transfers.cancel(request.params.id, callerOf(request))));
}
