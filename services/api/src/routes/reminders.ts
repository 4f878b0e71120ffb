import { listReminders, type Database } from '@lr/db';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { decodeCursor, page, PageQuery } from '../pagination';

const ReminderStatus = Type.Union([
  Type.Literal('scheduled'),
  Type.Literal('sent'),
  Type.Literal('failed'),
  Type.Literal('undeliverable'),
  Type.Literal('cancelled'),
]);
const Outcome = Type.Union([Type.Literal('open'), Type.Literal('renewed'), Type.Literal('expired')]);

export function reminderRoutes(db: Database, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/reminders',
      {
        onRequest: requireRole('viewer'),
        schema: {
          tags: ['reminders'],
          querystring: Type.Object(
            {
              licenseNo: Type.Optional(Type.String({ maxLength: 64 })),
              categoryCode: Type.Optional(Type.String({ maxLength: 40 })),
              status: Type.Optional(ReminderStatus),
              outcome: Type.Optional(Outcome),
              ...PageQuery,
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const { cursor, limit, ...filter } = request.query;
        const rows = await listReminders(db, { ...filter, afterId: decodeCursor(cursor), limit: limit + 1 });
        return page(rows, limit);
      },
    );
  };
}
