// Officer routes: the policy set in force, a dry-run decision (no side effects), and a reload. Roles
// are the policy service's business.
import type { FastifyInstance } from 'fastify';
import type { PolicyService } from '../../policy/policy-service.js';
import { callerOf } from '../principal-of.js';

const evaluateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'manifest'],
  properties: {
    from: { type: 'string', description: 'Registry id of the sending institution to decide for.' },
    at: { type: 'string', format: 'date-time', description: 'Decision time (default now).' },
    manifest: { type: 'object' },
  },
} as const;

export async function policyRoutes(app: FastifyInstance, { policies }: { policies: PolicyService }): Promise<void> {
  app.get('/policies', async (request) => policies.describe(callerOf(request)));

  app.post<{ Body: { from: string; at?: string; manifest: unknown } }>('/policies/evaluate', { schema: { body: evaluateBody } }, async (request) =>
    policies.evaluate(callerOf(request), request.body),
  );

  app.post('/policies/reload', async (request) => policies.reload(callerOf(request)));
}
