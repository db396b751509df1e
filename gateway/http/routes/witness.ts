// POST /v1/witness/add-checkpoint: the C2SP tlog-witness submission endpoint, for the peer gateway.
// Its body and answers are the protocol's plain text: the cosignature lines, or for a size conflict
// the size this witness cosigned last (`text/x.tlog.size`), which tlog clients read to go on. Other
// refusals are problem details like every error of the API.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { TLOG_SIZE_MEDIA_TYPE } from '../../witness/tlog-witness.js';
import type { WitnessService } from '../../witness/witness-service.js';
import { callerOf } from '../principal-of.js';

/** A checkpoint with 63 proof lines and a few signatures is a few KiB. */
const ADD_CHECKPOINT_BODY_LIMIT = 64 * 1024;

export async function witnessRoutes(app: FastifyInstance, { witness }: { witness: WitnessService }): Promise<void> {
  // Any content type: the protocol names none. Parsed here only, as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: ADD_CHECKPOINT_BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.post('/witness/add-checkpoint', async (request, reply) => {
    const body = typeof request.body === 'string' ? request.body : '';
    try {
      const { cosignatures } = await witness.addCheckpoint(callerOf(request), body);
      return reply.type('text/plain; charset=utf-8').send(cosignatures);
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_WITNESS_SIZE_CONFLICT') {
        return reply.code(409).type(TLOG_SIZE_MEDIA_TYPE).send(`${String(error.details?.treeSize ?? 0)}\n`);
      }
      throw error;
    }
  });
}
