// GET /v1/flows: a period's transfers and bytes by outcome, by category, direction and day or week —
// the numbers the console's overview shows. Roles and limits are the flows service's business.
import type { FastifyInstance } from 'fastify';
import type { FlowsRequest, FlowsService } from '../../flows/flows-service.js';
import { callerOf } from '../principal-of.js';

const flowsQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: { type: 'string', description: 'First day, YYYY-MM-DD (UTC), inclusive.' },
    to: { type: 'string', description: 'Last day, YYYY-MM-DD (UTC), inclusive.' },
    bucket: { enum: ['day', 'week'], description: 'Periods of the byPeriod sums: days, or ISO weeks named by their Monday (default day).' },
    institution: { type: 'string', description: 'Only flows this institution sent or received.' },
  },
} as const;

export async function flowRoutes(app: FastifyInstance, { flows }: { flows: FlowsService }): Promise<void> {
  app.get<{ Querystring: FlowsRequest }>('/flows', { schema: { querystring: flowsQuery } }, async (request) => flows.summary(callerOf(request), request.query));
}
