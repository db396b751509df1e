// Officer routes: the policy set in force, a dry-run decision (no side effects), and a reload.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { decideTransfer } from '../../policy/decide-transfer.js';
import { explainPolicy } from '../../policy/explain-policy.js';
import type { GatewayServices } from '../gateway-services.js';
import { requireRole } from '../require-role.js';

const OFFICERS = ['security-officer', 'admin'] as const;
const READERS = ['security-officer', 'admin', 'regulator'] as const;

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

export function registerPolicyRoutes(app: FastifyInstance, services: GatewayServices): void {
  app.get('/v1/policies', async (request) => {
    requireRole(request, READERS);
    const set = services.policies();
    return {
      revision: set.revision,
      loadedAt: set.loadedAt,
      files: set.files,
      rules: set.rules.map(({ id, file, effect, description, basis, unconfirmed }) => ({ id, file: file.slice(set.dir.length + 1), effect, description, basis, unconfirmed })),
    };
  });

  app.post<{ Body: { from: string; at?: string; manifest: unknown } }>('/v1/policies/evaluate', { schema: { body: evaluateBody } }, async (request) => {
    requireRole(request, OFFICERS);
    const registry = services.registry();
    const sender = registry.institutions.get(request.body.from);
    if (!sender) throw new GatewayError('ERR_REQUEST_INVALID', `"${request.body.from}" is not a registered institution`);
    const set = services.policies();
    const at = request.body.at ? new Date(request.body.at) : services.now();
    const lookupInstitution = (id: string) => registry.institutions.get(id);
    const { manifest, decision } = decideTransfer(set, { sender, manifest: request.body.manifest, at, lookupInstitution });
    const recipient = lookupInstitution(manifest.recipient);
    return { dryRun: true, decision, explanation: recipient ? explainPolicy(set, { manifest, sender, recipient, at }) : [] };
  });

  app.post('/v1/policies/reload', async (request) => {
    requireRole(request, OFFICERS);
    const result = await services.reloadPolicies(`officer:${request.principal?.id ?? 'unknown'}`);
    if (result.outcome === 'rejected') {
      const problems = result.error instanceof GatewayError ? result.error.details?.problems : undefined;
      throw new GatewayError('ERR_POLICY_RELOAD_REJECTED', 'the policy files are invalid; the previous policy set stays in force', { problems, revision: services.policies().revision });
    }
    return { outcome: result.outcome, revision: services.policies().revision };
  });
}
