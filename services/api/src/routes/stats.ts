import type { Database } from '@lr/db';
import { periodStats } from '@lr/reporting';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import type { ReportGate } from '../report-gate';
import { reportFilter, ReportFilterQuery } from '../report-query';

/** GET /v1/stats: what the reminders of a period achieved (docs/rules.md, "Outcomes"). */
export function statsRoutes(db: Database, reports: ReportGate, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/stats',
      {
        onRequest: requireRole('viewer'),
        schema: {
          tags: ['reports'],
          querystring: Type.Object(
            {
              ...ReportFilterQuery,
              groupBy: Type.Optional(Type.Union([Type.Literal('category'), Type.Literal('region'), Type.Literal('month')])),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const { groupBy, ...query } = request.query;
        const filter = await reportFilter(db, query);
        return reports.run(reply, () => periodStats(db, filter, groupBy));
      },
    );
  };
}
