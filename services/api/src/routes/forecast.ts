import type { Database } from '@lr/db';
import { localDate } from '@lr/domain';
import { forecastPeriod, licenseForecast } from '@lr/reporting';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError } from '../errors';
import type { ReportGate } from '../report-gate';
import { reportFilter, ReportFilterQuery } from '../report-query';

/** GET /v1/forecast: the reminders, SMS and pushes each day's scan would create (docs/api.md). */
export function forecastRoutes(db: Database, reports: ReportGate, requireRole: RequireRole, timezone: string): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/forecast',
      {
        onRequest: requireRole('viewer'),
        schema: {
          tags: ['reports'],
          description:
            'Per day from `from` (default today) to `to` (default from + 89 days; at most 366 days): the reminders, SMS and pushes ' +
            'that day\'s scan would create if a scan ran every day from `from` and no licence changed; messages joined per recipient.',
          querystring: Type.Object(ReportFilterQuery, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const filter = await reportFilter(db, request.query);
        const period = forecastPeriod(filter, localDate(timezone));
        if ('field' in period) throw new ApiError(400, 'invalid_request', `${period.field} ${period.message}`, [period]);
        return reports.run(reply, () => licenseForecast(db, period, filter));
      },
    );
  };
}
