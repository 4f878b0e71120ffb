import { openLink, type Database } from '@lr/db';
import { isLinkToken, LINK_PATH, linkAnswer, localDate, oldestWorkingExpiry } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { FastifyPluginAsync, FastifyReply, RouteShorthandOptions } from 'fastify';
import { LINK_NOT_FOUND_PAGE, LINK_PAGE_CSP, LINK_PAGE_TYPE, licensesPage } from '../link-pages';

function notFound(reply: FastifyReply) {
  return reply.code(404).type(LINK_PAGE_TYPE).send(LINK_NOT_FOUND_PAGE);
}

/**
 * Today's date in `timezone`, worked out at most once a second (formatting a date costs as much
 * as a tenth of an opening's work): a link lapses within a second of midnight.
 */
function today(timezone: string): () => string {
  let second = -1;
  let date = '';
  return () => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) [second, date] = [now, localDate(timezone)];
    return date;
  };
}

/**
 * GET /r/{token}: a holder opens the personal renewal link of a message (docs/rules.md,
 * "Renewal links"). No key: the token is the holder's. Anything under /r/ that is not a working
 * link, malformed or not, is the same 404 page.
 */
export function linkRoutes(db: Database, counters: Counters, timezone: string): FastifyPluginAsync {
  const businessDay = today(timezone);
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
        const opened = isLinkToken(token) ? await openLink(db, token, oldestWorkingExpiry(businessDay())) : undefined;
        if (!opened?.works) return notFound(reply);
        counters.add('linkOpenings', 1);
        const answer = linkAnswer(opened.licenses);
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
