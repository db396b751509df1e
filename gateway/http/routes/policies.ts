// Officer routes: the policy set in force, a dry-run decision (no side effects), a reload, and the
// policy history (accepted revisions with their files, diffs between them, reloads). Roles
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

const REVISION = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'A policy revision: the SHA-256 of the set, as GET /v1/policies and /v1/policies/revisions give it.' } as const;
const revisionParams = { type: 'object', required: ['revision'], properties: { revision: REVISION } } as const;
const listQuery = { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 500, description: 'At most this many, newest first (default 50).' } } } as const;

export async function policyRoutes(app: FastifyInstance, { policies }: { policies: PolicyService }): Promise<void> {
  app.get('/policies', async (request) => policies.describe(callerOf(request)));

  app.post<{ Body: { from: string; at?: string; manifest: unknown } }>('/policies/evaluate', { schema: { body: evaluateBody } }, async (request) =>
    policies.evaluate(callerOf(request), request.body),
  );

  app.post('/policies/reload', async (request) => policies.reload(callerOf(request)));

  app.get<{ Querystring: { limit?: number } }>('/policies/revisions', { schema: { querystring: listQuery } }, async (request) => policies.revisions(callerOf(request), request.query));
  app.get<{ Params: { revision: string } }>('/policies/revisions/:revision', { schema: { params: revisionParams } }, async (request) => policies.revision(callerOf(request), request.params.revision));
  app.get<{ Params: { revision: string }; Querystring: { from: string } }>(
    '/policies/revisions/:revision/diff',
    { schema: { params: revisionParams, querystring: { type: 'object', additionalProperties: false, required: ['from'], properties: { from: REVISION } } } },
    async (request) => policies.diff(callerOf(request), request.query.from, request.params.revision),
  );
  app.get<{ Querystring: { limit?: number } }>('/policies/reloads', { schema: { querystring: listQuery } }, async (request) => policies.reloads(callerOf(request), request.query));
}
