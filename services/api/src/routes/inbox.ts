import { countUnread, listInbox, markInboxRead, type Database } from '@lr/db';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import { oncePerRequest } from '../auth';
import { ApiError, notFound } from '../errors';
import { decodeCursor, MAX_ID, page, PageQuery } from '../pagination';

/** The platform user id of a request's platform token, or undefined when it has none that is valid. */
export type IdentifyLicensee = (request: FastifyRequest) => Promise<string | undefined>;

export function platformTokenIdentity(jwtSecret: string): IdentifyLicensee {
  const key = new TextEncoder().encode(jwtSecret);
  return oncePerRequest(async (request) => {
    const [scheme, token] = (request.headers.authorization ?? '').split(' ', 2);
    if (scheme?.toLowerCase() !== 'bearer' || !token) return undefined;
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      // PostgreSQL cannot compare text holding NUL: such a user id names nobody.
      return payload.sub!.includes('\u0000') ? undefined : payload.sub!;
    } catch {
      return undefined;
    }
  });
}

/**
 * The licensee's in-app inbox, opened by the app platform's HS256 token
 * (`sub` = platform user id, `exp` required); API keys do not open it.
 */
export function inboxRoutes(db: Database, identifyLicensee: IdentifyLicensee): FastifyPluginAsyncTypebox {
  /** The routes' onRequest hook: 401 without a valid platform token, from the headers, before the body is read. */
  async function requireLicensee(request: FastifyRequest): Promise<void> {
    if (!request.headers.authorization) throw new ApiError(401, 'unauthorized', 'a platform token is required');
    if ((await identifyLicensee(request)) === undefined) throw new ApiError(401, 'unauthorized', 'the platform token is invalid or expired');
  }
  /** The platform user id that requireLicensee found (asked once per request). */
  const licensee = async (request: FastifyRequest): Promise<string> => (await identifyLicensee(request))!;

  return async (app) => {
    app.get(
      '/v1/inbox',
      { onRequest: requireLicensee, schema: { tags: ['inbox'], querystring: Type.Object(PageQuery, { additionalProperties: false }) } },
      async (request) => {
        const userId = await licensee(request);
        const beforeId = decodeCursor(request.query.cursor);
        const [rows, unread] = await Promise.all([
          listInbox(db, userId, { beforeId, limit: request.query.limit + 1 }),
          countUnread(db, userId),
        ]);
        return { ...page(rows, request.query.limit), unread };
      },
    );

    app.post(
      '/v1/inbox/:id/read',
      { onRequest: requireLicensee, schema: { tags: ['inbox'], params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID }) }) } },
      async (request) => {
        const userId = await licensee(request);
        // Someone else's message is "not found", so ids reveal nothing.
        return (await markInboxRead(db, userId, request.params.id)) ?? Promise.reject(notFound('message'));
      },
    );
  };
}
