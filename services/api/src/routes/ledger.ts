import { copyLedger, type CsvCopySettings, type Database } from '@lr/db';
import { ledgerFilename, ledgerHeader } from '@lr/reporting';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { sendCsv } from '../csv-download';
import type { ReportGate } from '../report-gate';
import { CsvLanguageQuery, reportFilter, ReportFilterQuery } from '../report-query';

/** GET /v1/ledger.csv: the work ledger (工作台账), masked, streamed. Operators and admins. */
export function ledgerRoutes(db: Database, reports: ReportGate, requireRole: RequireRole, copy: CsvCopySettings): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/ledger.csv',
      {
        onRequest: requireRole('operator'),
        schema: {
          tags: ['reports'],
          description:
            'The work ledger as CSV (UTF-8 with BOM): one row per delivery of each reminder whose scan date is in the period, ' +
            'one with an empty channel and status undeliverable for a reminder without deliveries. Personal data masked.',
          querystring: Type.Object(
            {
              ...ReportFilterQuery,
              ...CsvLanguageQuery,
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const { lang, ...query } = request.query;
        const filter = await reportFilter(db, query);
        const names = { filename: ledgerFilename(filter, lang), asciiFilename: ledgerFilename(filter, 'en'), header: ledgerHeader(lang) };
        // The place is held until the last row is written, the client goes away, or the copy fails.
        const leave = reports.enter(reply);
        return sendCsv(request, reply, { ...names, writeRows: (to) => copyLedger(db, filter, to, copy).finally(leave) });
      },
    );
  };
}
