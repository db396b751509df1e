// The peering routes, for the peer gateway only (docs/peering.md): this side's signed directory; a
// transfer forwarded by the peer — its offer (decided here), its envelope (streamed in), and the
// receipt of one this side forwarded.
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ENVELOPE_MEDIA_TYPE } from '../../delivery/push-envelope.js';
import { GatewayError } from '../../errors.js';
import type { PeeringService } from '../../peering/peering-service.js';
import { callerOf } from '../principal-of.js';

const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^tr-[0-9a-z]{9,12}-[0-9a-f]{16}$' } }, required: ['id'] } as const;

function announcedLength(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

export async function peeringRoutes(app: FastifyInstance, { peering }: { peering: PeeringService }): Promise<void> {
  // The envelope's bytes are handed on as a stream; this parser lives in this plugin only.
  app.addContentTypeParser(ENVELOPE_MEDIA_TYPE, (_request, payload, done) => done(null, payload));

  app.get('/peering/directory', async (request) => peering.directory(callerOf(request)));

  app.post('/peering/transfers', async (request, reply) => {
    const { created, view } = await peering.offer(callerOf(request), request.body);
    return reply.code(created ? 201 : 200).send(view);
  });

  app.put<{ Params: { id: string } }>('/peering/transfers/:id/envelope', { schema: { params: idParams }, config: { bulkContent: 'forwarded-envelope' } }, async (request) => {
    if (!(request.headers['content-type'] ?? '').startsWith(ENVELOPE_MEDIA_TYPE)) throw new GatewayError('ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED', `send the envelope as ${ENVELOPE_MEDIA_TYPE}`);
    // An envelope held already is answered without reading it (a retry after a lost answer).
    return peering.receiveEnvelope(callerOf(request), request.params.id, request.body as Readable, announcedLength(request.headers['content-length']));
  });

  app.post<{ Params: { id: string } }>('/peering/transfers/:id/receipt', { schema: { params: idParams } }, async (request) => peering.acceptReceipt(callerOf(request), request.params.id, request.body));
}
