// GET /v1/whoami: the principal the gateway sees for the caller's certificate.
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../identity/resolve-principal.js';
import { principalOf } from '../principal-of.js';

const whoamiResponse = {
  type: 'object',
  required: ['kind', 'id', 'name', 'role', 'institution', 'certificate', 'registryRevision'],
  properties: {
    kind: { enum: ['institution', 'person', 'gateway'] },
    id: { type: 'string' },
    name: { type: 'string' },
    role: { enum: ['institution', 'security-officer', 'regulator', 'admin', 'peer-gateway'] },
    institution: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        legalName: { type: 'string' },
        jurisdiction: { type: 'string' },
        zone: { type: 'string' },
        status: { type: 'string' },
      },
    },
    certificate: {
      type: 'object',
      properties: {
        sha256: { type: 'string' },
        subject: { type: 'string' },
        issuer: { type: 'string' },
        serial: { type: 'string' },
        notAfter: { type: 'string', format: 'date-time' },
      },
    },
    registryRevision: { type: 'string' },
  },
} as const;

export function describePrincipal(principal: Principal) {
  const { institution, certificate } = principal;
  return {
    kind: principal.kind,
    id: principal.id,
    name: principal.name,
    role: principal.role,
    institution: {
      id: institution.id,
      legalName: institution.legalName,
      jurisdiction: institution.jurisdiction,
      zone: institution.zone,
      status: institution.status,
    },
    certificate: { ...certificate, notAfter: certificate.notAfter.toISOString() },
    registryRevision: principal.registryRevision,
  };
}

export async function whoamiRoutes(app: FastifyInstance): Promise<void> {
  app.get('/whoami', { schema: { response: { 200: whoamiResponse } } }, async (request) => describePrincipal(principalOf(request)));
}
