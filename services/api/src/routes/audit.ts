import { listAudit, type Database } from '@lr/db';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { decodeCursor, page, PageQuery } from '../pagination';

/** GET /v1/audit: every write by an admin key (and operators' scans and queue-dashboard actions), newest first. Admins only. */
export function auditRoutes(db: Database, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/audit',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['audit'],
          description: 'The audit log, newest first: who (the key name) did what to which target, with the state before and after.',
          querystring: Type.Object(
            {
              action: Type.Optional(Type.String({ maxLength: 100, description: 'e.g. category.update, licenses.batch, scan.run' })),
              target: Type.Optional(Type.String({ maxLength: 200, description: 'e.g. category:food-business' })),
              ...PageQuery,
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const { cursor, limit, action, target } = request.query;
        const rows = await listAudit(db, { afterId: decodeCursor(cursor), limit: limit + 1, action, target });
        return page(
          rows.map((r) => ({ id: r.id, actor: r.actor, action: r.action, target: r.target, before: r.before, after: r.after, at: r.createdAt })),
          limit,
        );
      },
    );
  };
}
