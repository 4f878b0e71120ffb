import { listAudit, type Database } from '@lr/db';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { RequireRole } from '../auth';
import { decodeCursor, page, PageQuery } from '../pagination';

/**
 * Who made a request, as the audit log records it: the key's id (null for the
 * ADMIN_API_KEY bootstrap key) and its name. Only for routes behind requireRole.
 */
export function auditActor(request: FastifyRequest): { apiKeyId: number | null; actor: string } {
  const caller = request.caller;
  if (!caller) throw new Error('auditActor needs a route behind requireRole');
  return { apiKeyId: caller.keyId, actor: caller.name };
}

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
