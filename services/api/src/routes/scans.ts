import { listScans, recordAudit, type Database } from '@lr/db';
import { localDate } from '@lr/domain';
import { asOfProblem, runScan, ScanInProgressError, type ScanDeps } from '@lr/scan';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError } from '../errors';
import { auditActor } from './audit';
import { decodeCursor, page, PageQuery } from '../pagination';
import { BusinessDateString } from '../schemas';

export function scanRoutes(deps: ScanDeps & { db: Database; timezone: string }, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/scans',
      {
        onRequest: requireRole('operator'),
        // `curl -X POST .../v1/scans` with no body at all scans for today.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          tags: ['scans'],
          body: Type.Object({ asOf: Type.Optional(BusinessDateString) }, { additionalProperties: false }),
        },
      },
      async (request) => {
        const asOf = request.body.asOf ?? localDate(deps.timezone);
        const problem = asOfProblem(asOf);
        if (problem) throw new ApiError(422, 'invalid_as_of', `asOf ${problem}`, [{ field: 'asOf', message: problem }]);
        try {
          const summary = await runScan(deps, { asOf, trigger: 'api' });
          // A scan commits in several steps of its own (the scans row is its record), so its
          // audit entry follows once it has succeeded rather than sharing a transaction.
          const { id, status, remindersCreated, skipped, messagesQueued, undeliverable } = summary;
          await recordAudit(deps.db, {
            ...auditActor(request),
            action: 'scan.run',
            target: `scan:${id}`,
            before: null,
            after: { asOf, status, remindersCreated, skipped, messagesQueued, undeliverable },
          }).catch((error: unknown) => request.log.error({ err: error, scanId: id }, 'scan ran but its audit entry was not written'));
          return summary;
        } catch (error) {
          if (error instanceof ScanInProgressError) throw new ApiError(409, 'scan_in_progress', 'another scan is running; try again when it has finished');
          throw error;
        }
      },
    );

    app.get(
      '/v1/scans',
      { onRequest: requireRole('viewer'), schema: { tags: ['scans'], querystring: Type.Object(PageQuery, { additionalProperties: false }) } },
      async (request) => {
        const rows = await listScans(deps.db, { after: decodeCursor(request.query.cursor), limit: request.query.limit + 1 });
        return page(rows, request.query.limit);
      },
    );
  };
}
