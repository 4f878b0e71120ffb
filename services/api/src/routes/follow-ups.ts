import type { CsvCopySettings, Database, FollowUpFilter } from '@lr/db';
import { followUpFilename, followUpHeader } from '@lr/reporting';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { sendCsv } from '../csv-download';
import { ApiError, notFound } from '../errors';
import { decodeDateIdCursor, MAX_ID, page, PageQuery } from '../pagination';
import type { ReportGate } from '../report-gate';
import { CsvLanguageQuery, reportFilter, ReportFilterQuery } from '../report-query';
import { auditActor } from '../audit';
import { followUpService } from '../services/follow-ups';

const FollowUpQuery = {
  status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
  reason: Type.Optional(Type.Union([Type.Literal('unreached'), Type.Literal('not_renewed')])),
  categoryCode: ReportFilterQuery.categoryCode,
  regionCode: ReportFilterQuery.regionCode,
};

const NewAction = Type.Object(
  {
    kind: Type.Union([Type.Literal('call'), Type.Literal('visit'), Type.Literal('message')]),
    result: Type.Union([Type.Literal('reached'), Type.Literal('unreachable'), Type.Literal('will_renew'), Type.Literal('declined'), Type.Literal('other')]),
    note: Type.Optional(Type.String({ maxLength: 500 })),
    close: Type.Optional(Type.Boolean({ description: 'closes the follow-up as handled' })),
  },
  { additionalProperties: false },
);

const FollowUpId = Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID }) });

export interface FollowUpRouteDeps {
  db: Database;
  reports: ReportGate;
  /** REMINDER_TIMEZONE: days left count from its today */
  timezone: string;
  copy: CsvCopySettings;
}

/**
 * The follow-ups (docs/rules.md, "Follow-up"): staff's work list of holders the reminders did
 * not reach, or reached without a renewal close to the date. Phones masked; the full one is
 * GET /v1/licenses/{id}/contact.
 */
export function followUpRoutes({ db, reports, timezone, copy }: FollowUpRouteDeps, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  /** The filter of a query: categoryCode and regionCode checked as the reports check them (400 invalid_request). */
  const followUpFilter = async (query: FollowUpFilter): Promise<FollowUpFilter> => {
    const { categoryCode, regionCode } = await reportFilter(db, { categoryCode: query.categoryCode, regionCode: query.regionCode });
    return { status: query.status, reason: query.reason, categoryCode, regionCode };
  };

  const followUps = followUpService({ db, timezone, copy });
  return async (app) => {
    app.get(
      '/v1/follow-ups',
      {
        onRequest: requireRole('viewer'),
        schema: {
          tags: ['follow-ups'],
          description: 'Follow-ups, most urgent first (expiry date, then id).',
          querystring: Type.Object({ ...FollowUpQuery, ...PageQuery }, { additionalProperties: false }),
        },
      },
      async (request) => {
        const { cursor, limit, ...query } = request.query;
        const after = decodeDateIdCursor(cursor);
        const rows = await followUps.list(await followUpFilter(query), {
          after: after && { expiresOn: after.date, id: after.id },
          limit: limit + 1,
        });
        return page(rows, limit, (row) => `${row.expiresOn}/${row.id}`);
      },
    );

    app.get(
      '/v1/follow-ups.csv',
      {
        onRequest: requireRole('operator'),
        schema: {
          tags: ['follow-ups'],
          description: 'The follow-up list as CSV (UTF-8 with BOM), most urgent first, personal data masked as in the ledger.',
          querystring: Type.Object(
            {
              ...FollowUpQuery,
              ...CsvLanguageQuery,
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const { lang, ...query } = request.query;
        const filter = await followUpFilter(query);
        const today = followUps.today();
        const names = { filename: followUpFilename(filter, today, lang), asciiFilename: followUpFilename(filter, today, 'en'), header: followUpHeader(lang) };
        const leave = reports.enter(reply);
        return sendCsv(request, reply, { ...names, writeRows: (to) => followUps.copy(filter, today, to).finally(leave) });
      },
    );

    app.get(
      '/v1/follow-ups/:id',
      { onRequest: requireRole('viewer'), schema: { tags: ['follow-ups'], params: FollowUpId } },
      async (request) => {
        const followUp = await followUps.find(request.params.id);
        if (!followUp) throw notFound('follow-up');
        return followUp;
      },
    );

    app.post(
      '/v1/follow-ups/:id/actions',
      {
        onRequest: requireRole('operator'),
        schema: {
          tags: ['follow-ups'],
          description: 'Records a call, visit or message with its result; `close: true` closes the follow-up as handled. 409 once closed.',
          params: FollowUpId,
          body: NewAction,
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const outcome = await followUps.recordAction(id, request.body, auditActor(request));
        if (outcome === 'missing') throw notFound('follow-up');
        if (outcome === 'closed') throw new ApiError(409, 'follow_up_closed', `follow-up ${id} is closed: no action can be added`);
        return reply.code(201).send(await followUps.find(id));
      },
    );
  };
}
