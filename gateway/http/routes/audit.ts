// Audit routes: inclusion proofs for a transfer's parties, consistency between checkpoints, and the
// regulator's streamed, verifiable export (NDJSON, or CSV for spreadsheets).
import type { FastifyInstance } from 'fastify';
import type { AuditJournal } from '../../audit/create-audit-journal.js';
import { createAuditCsvTransform } from '../../audit/render-audit-csv.js';
import { GatewayError } from '../../errors.js';
import type { TransferService } from '../../transfer/transfer-service.js';
import { requireRole } from '../require-role.js';

interface ExportQuery {
  from?: string;
  to?: string;
  institution?: string;
  category?: string;
  direction?: string;
  format: 'ndjson' | 'csv';
}

export function registerAuditRoutes(app: FastifyInstance, journal: AuditJournal, transfers: TransferService): void {
  app.get<{ Params: { transferId: string } }>('/v1/audit/proof/:transferId', async (request) => {
    const principal = request.principal;
    if (!principal) throw new GatewayError('ERR_IDENTITY_CERTIFICATE_MISSING', 'no principal');
    const record = transfers.get(request.params.transferId, { id: principal.id, role: principal.role, institution: principal.institution.id });
    const checkpoint = await journal.checkpoint();
    if (!checkpoint) throw new GatewayError('ERR_SERVICE_UNAVAILABLE', 'no checkpoint yet');
    const proofs = journal.entriesFor(record.id).filter((seq) => seq < checkpoint.treeSize).map((seq) => journal.proveInclusion(seq, checkpoint.treeSize));
    return { transferId: record.id, checkpoint, proofs };
  });

  app.get<{ Querystring: { from: number; to: number } }>(
    '/v1/audit/consistency',
    { schema: { querystring: { type: 'object', required: ['from', 'to'], properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } } } } },
    async (request) => {
      await journal.checkpoint();
      return { checkpoint: journal.latestCheckpoint(), ...journal.proveConsistency(request.query.from, request.query.to) };
    },
  );

  app.get<{ Querystring: ExportQuery }>(
    '/v1/audit/export',
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
      requireRole(request, ['regulator']);
      const { from, to, institution, category, direction, format } = request.query;
      const filtered = institution !== undefined || category !== undefined || direction !== undefined;
      const stream = journal.exportRange({
        ...(from ? { fromTime: from } : {}),
        ...(to ? { toTime: to } : {}),
        ...(filtered
          ? {
              filter: (entry) => {
                const details = (entry.details ?? {}) as Record<string, unknown>;
                return (
                  (institution === undefined || entry.actor.id === institution || details.sender === institution || details.recipient === institution) &&
                  (category === undefined || details.category === category) &&
                  (direction === undefined || details.direction === direction)
                );
              },
            }
          : {}),
      });
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(stream.pipe(createAuditCsvTransform()));
      return reply.type('application/x-ndjson').header('content-disposition', 'attachment; filename="hetao-audit-export.ndjson"').send(stream);
    },
  );
}
