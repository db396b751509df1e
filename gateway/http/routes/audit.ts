// Audit routes: inclusion proofs for a transfer's parties, consistency between checkpoints, and the
// regulator's streamed, verifiable export (NDJSON, or CSV for spreadsheets). Who may ask what is the
// audit service's business.
import type { FastifyInstance } from 'fastify';
import type { AuditService } from '../../audit/audit-service.js';
import { createAuditCsvTransform } from '../../audit/render-audit-csv.js';
import { callerOf } from '../principal-of.js';

interface ExportQuery {
  from?: string;
  to?: string;
  institution?: string;
  category?: string;
  direction?: string;
  format: 'ndjson' | 'csv';
}

export async function auditRoutes(app: FastifyInstance, { audit }: { audit: AuditService }): Promise<void> {
  app.get<{ Params: { transferId: string } }>('/audit/proof/:transferId', async (request) => audit.proveTransfer(request.params.transferId, callerOf(request)));

  app.get<{ Querystring: { from: number; to: number } }>(
    '/audit/consistency',
    { schema: { querystring: { type: 'object', required: ['from', 'to'], properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } } } } },
    async (request) => audit.proveConsistency(request.query.from, request.query.to, callerOf(request)),
  );

  app.get<{ Querystring: ExportQuery }>(
    '/audit/export',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            institution: { type: 'string' },
            category: { type: 'string' },
            direction: { type: 'string' },
            format: { enum: ['ndjson', 'csv'], default: 'ndjson' },
          },
        },
      },
    },
    async (request, reply) => {
      const { format, ...given } = request.query;
      // An empty field is no filter: the console's export form sends "any" as an empty value.
      const filter = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== '')) as typeof given;
      const stream = audit.exportEntries(filter, callerOf(request));
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(stream.pipe(createAuditCsvTransform()));
      return reply.type('application/x-ndjson').header('content-disposition', 'attachment; filename="hetao-audit-export.ndjson"').send(stream);
    },
  );
}
