// GET /v1/peering/directory: this side's signed directory, for the peer gateway (peering.md).
import type { FastifyInstance } from 'fastify';
import type { PeeringService } from '../../peering/peering-service.js';
import { callerOf } from '../principal-of.js';

export async function peeringRoutes(app: FastifyInstance, { peering }: { peering: PeeringService }): Promise<void> {
  app.get('/peering/directory', async (request) => peering.directory(callerOf(request)));
}
