import { listScans } from '@lr/db';
import type { ScanCalendar, ScanDeps } from '@lr/scan';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError } from '../errors';
import { auditActor } from '../audit';
import { decodeCursor, page, PageQuery } from '../pagination';
import { BusinessDateString } from '../schemas';
import { scanService } from '../services/scans';

const counts = {
  remindersCreated: Type.Integer({ description: 'new reminders' }),
  skipped: Type.Integer({ description: "licences of the scan's windows that already had that window's reminder" }),
  messagesQueued: Type.Integer({ description: 'outgoing messages put on the queues (after joining per recipient)' }),
  undeliverable: Type.Integer({ description: 'new reminders with no usable channel' }),
};

const ScanRecord = Type.Object(
  {
    id: Type.Integer(),
    asOf: Type.String({ format: 'date' }),
    trigger: Type.Union([Type.Literal('cron'), Type.Literal('api'), Type.Literal('command')]),
    status: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    startedAt: Type.Unsafe<Date>({ type: 'string', format: 'date-time' }),
    finishedAt: Type.Unsafe<Date | null>({ type: ['string', 'null'], format: 'date-time' }),
    ...counts,
    error: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'Scan', description: "the scan's record, as GET /v1/scans lists it" },
);

const ScanDryRun = Type.Object(
  {
    dryRun: Type.Literal(true),
    asOf: Type.String({ format: 'date' }),
    ...counts,
    remindersByLeadDays: Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Integer(), {
      description: 'the new reminders by lead (days), every lead of an enabled category, zeros included',
    }),
    messagesByChannel: Type.Object({ sms: Type.Integer(), push: Type.Integer() }, { description: 'the messages that would be queued, by channel' }),
  },
  { title: 'ScanDryRun', description: 'what the scan would create and queue; nothing was written' },
);

export function scanRoutes(deps: ScanDeps & ScanCalendar, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  const scans = scanService(deps);
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
          description:
            'Runs a scan now and answers its record; with dryRun, answers what the scan would create (reminders by lead, ' +
            'messages by channel, undeliverable) and writes nothing. An asOf after today is refused (422 as_of_in_future) ' +
            'unless ALLOW_FUTURE_SCANS=on, except in a dry run, which sends nothing. 409 scan_in_progress while another scan or dry run runs.',
          body: Type.Object(
            {
              asOf: Type.Optional({ ...BusinessDateString, description: 'the scan date; default today in REMINDER_TIMEZONE' }),
              dryRun: Type.Optional(Type.Boolean({ description: 'true: only answer what the scan would do' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Union([ScanDryRun, ScanRecord]) },
        },
      },
      async (request) => {
        const answer = await scans.run({ asOf: request.body.asOf, dryRun: request.body.dryRun === true }, auditActor(request), request.log);
        switch (answer.kind) {
          case 'invalid_as_of':
            throw new ApiError(422, 'invalid_as_of', `asOf ${answer.message}`, [{ field: 'asOf', message: answer.message }]);
          case 'as_of_in_future':
            throw new ApiError(422, 'as_of_in_future', answer.message, [{ field: 'asOf', message: `is after today (${answer.today})` }]);
          case 'scan_in_progress':
            throw new ApiError(409, 'scan_in_progress', 'another scan is running; try again when it has finished');
          case 'failed':
            throw answer.error;
          case 'dry_run':
            return answer.dryRun;
          case 'scanned':
            return answer.summary;
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
