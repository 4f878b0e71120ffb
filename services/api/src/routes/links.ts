import type { Database } from '@lr/db';
import { LINK_PATH } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { FastifyPluginAsync, FastifyReply, RouteShorthandOptions } from 'fastify';
import { LINK_NOT_FOUND_PAGE, LINK_PAGE_CSP, LINK_PAGE_TYPE, licensesPage } from '../link-pages';
import { linkService } from '../services/links';

function notFound(reply: FastifyReply) {
  return reply.code(404).type(LINK_PAGE_TYPE).send(LINK_NOT_FOUND_PAGE);
}

/**
 * GET /r/{token}: a holder opens the personal renewal link of a message (docs/rules.md,
 * "Renewal links"). No key: the token is the holder's. Anything under /r/ that is not a working
 * link, malformed or not, is the same 404 page.
 */
export function linkRoutes(db: Database, counters: Counters, timezone: string): FastifyPluginAsync {
  const links = linkService({ db, counters, timezone });
  const options: RouteShorthandOptions = {
    // The token names the holder's message and the request carries the holder's address: neither
    // is logged for an ordinary opening (errors still are).
    logLevel: 'warn',
    helmet: { contentSecurityPolicy: LINK_PAGE_CSP },
    // A HEAD (a link checker's) must not count as an opening.
    exposeHeadRoute: false,
  };
  return async (app) => {
    app.get<{ Params: { token: string } }>(
      `${LINK_PATH}:token`,
      { ...options, schema: { tags: ['links'], summary: "Opens a message's renewal link: 302 to the renewal, or an HTML page", security: [] } },
      async (request, reply) => {
        // Every answer is personal or may change (a link lapses): kept by no cache.
        void reply.header('cache-control', 'no-store');
        const { token } = request.params;
        const answer = await links.open(token);
        if (!answer) return notFound(reply);
        if ('redirect' in answer) return reply.redirect(answer.redirect, 302);
        return reply.type(LINK_PAGE_TYPE).send(licensesPage(answer.page));
      },
    );
    app.get(`${LINK_PATH}*`, { ...options, schema: { hide: true } }, async (_request, reply) => {
      void reply.header('cache-control', 'no-store');
      return notFound(reply);
    });
  };
}
