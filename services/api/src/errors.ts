import { isDatabaseUnavailable, isStatementTimeout } from '@lr/db';
import { LINK_PATH } from '@lr/domain';
import { isRedisUnavailable } from '@lr/jobs';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LINK_NOT_FOUND_PAGE, LINK_PAGE_TYPE } from './link-pages';

/** An error the client can act on: `{ error: { code, message, details? } }` (docs/api.md). */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details !== undefined && { details }) } };
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, v]) => key.includes('\u0000') || containsNul(v, depth + 1));
}

function codeForStatus(status: number): string {
  const codes: Record<number, string> = { 404: 'not_found', 409: 'conflict', 413: 'body_too_large', 414: 'uri_too_long', 415: 'unsupported_media_type' };
  return codes[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

/** Where the first number that is not finite sits in `value` (`params.id`, `leadDays.0`), if one does. */
function nonFiniteNumberAt(value: unknown, path = '', depth = 0): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path || '(body)';
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  for (const [key, v] of Object.entries(value)) {
    const found = nonFiniteNumberAt(v, path ? `${path}.${key}` : key, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Fastify's `frameworkErrors`: a URL that does not decode (`/%`) or a path parameter over
 * the router's length limit is answered before any route or hook, in the contract's shape
 * (under /r/, the renewal link's 404 page).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // A renewal link mangled on its way (cut, or copied with a stray %): the holder gets the link's page.
  if (request.url.startsWith(LINK_PATH)) return void reply.code(404).type(LINK_PAGE_TYPE).header('cache-control', 'no-store').send(LINK_NOT_FOUND_PAGE);
  const status = error.statusCode ?? 400;
  void reply.code(status).send(errorBody(error.code === 'FST_ERR_BAD_URL' ? 'bad_url' : codeForStatus(status), error.message));
}

const CONTRACT_SHAPE_START = '{"error":{"code":';

/**
 * The contract's shape for an error body a plugin wrote in its own (bull-board's dashboard
 * API has an error handler of its own: `{ error: { key }, message }`). bull-board's `key`
 * stays in the error, so its page can still name the problem.
 */
function reshapedErrorBody(status: number, payload: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    parsed = undefined;
  }
  const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const inner = (typeof body.error === 'object' && body.error !== null ? body.error : {}) as Record<string, unknown>;
  const key = typeof inner.key === 'string' ? inner.key : undefined;
  const keyCode = key?.replace(/^ERRORS\./, '').toLowerCase();
  const code = keyCode && keyCode !== 'internal_server_error' ? keyCode : codeForStatus(status);
  const message =
    [body.message, inner.message, body.error].find((m): m is string => typeof m === 'string' && m !== '') ??
    (keyCode ? keyCode.replaceAll('_', ' ') : `request failed with status ${status}`);
  return JSON.stringify({ error: { code, message, ...(key !== undefined && { key }), ...(inner.options !== undefined && { options: inner.options }) } });
}

/**
 * How many schema errors a 400 names. Ajv reports every error (allErrors), so a body of a
 * million wrong array items would otherwise answer with a million details (hundreds of MB).
 */
const MAX_VALIDATION_DETAILS = 100;

/** A renewal link's HTML page (the holder's browser opened it), which is its answer as it is. */
function isLinkPage(request: FastifyRequest, reply: FastifyReply): boolean {
  return request.url.startsWith(LINK_PATH) && String(reply.getHeader('content-type')).startsWith('text/html');
}

/** What a client turned away because PostgreSQL or Redis is down is told to wait. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** Which store an error says is away (connection lost, refused, timed out): the request can be asked again later. */
function unavailable(error: unknown): 'PostgreSQL' | 'Redis' | undefined {
  if (isRedisUnavailable(error)) return 'Redis';
  if (isDatabaseUnavailable(error)) return 'PostgreSQL';
  return undefined;
}

/** Every error leaves in the contract's shape; only our own faults are 5xx, and a store that is down is 503 `unavailable`. */
export function installErrorHandling(app: FastifyInstance): void {
  // Fastify's own message, but of the first few errors only.
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const shown = errors.slice(0, 10).map((e) => `${dataVar}${e.instancePath || ''} ${e.message}`);
    return new Error(shown.join(', ') + (errors.length > shown.length ? ` (and ${errors.length - shown.length} more)` : ''));
  });
  // Whatever wrote an error body, it leaves in the contract's shape; but for the 404 page of a
  // renewal link, meant for the holder's browser.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode < 400 || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return payload;
    if (isLinkPage(request, reply)) return payload;
    const text = payload.toString();
    if (text.startsWith(CONTRACT_SHAPE_START)) return payload;
    void reply.type('application/json; charset=utf-8');
    return reshapedErrorBody(reply.statusCode, text);
  });
  // PostgreSQL cannot store a NUL character: refuse it at the door, in any field. (A renewal
  // link's token is checked for its shape before the database sees it: a bad one is the link's 404 page.)
  app.addHook('preValidation', async (request) => {
    if (request.url.startsWith(LINK_PATH)) return;
    if (containsNul(request.params) || containsNul(request.query) || containsNul(request.body)) {
      throw new ApiError(400, 'invalid_request', 'text may not contain NUL characters');
    }
  });
  // Ajv coerces the strings "Infinity", "-Infinity" and "1e309" to numbers that then pass
  // `integer`, `minimum` and `maximum` (ids in paths, ?limit=, leadDays: ["Infinity"]);
  // PostgreSQL would refuse them with a 500. So after validation, no number may be infinite.
  app.addHook('preHandler', async (request) => {
    const field = nonFiniteNumberAt(request.params, 'params') ?? nonFiniteNumberAt(request.query, 'querystring') ?? nonFiniteNumberAt(request.body);
    if (field !== undefined) {
      throw new ApiError(400, 'invalid_request', `${field} must be a finite number`, [{ field, message: 'must be a finite number' }]);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send(errorBody(error.code, error.message, error.details));
    }
    if (error.validation) {
      const details = error.validation.slice(0, MAX_VALIDATION_DETAILS).map((v) => ({
        field: `${error.validationContext ?? ''}${v.instancePath.replaceAll('/', '.')}`.replace(/^body\.?/, '') || '(body)',
        message: v.message ?? 'is invalid',
        ...(v.keyword === 'additionalProperties' && { field: String(v.params.additionalProperty), message: 'unknown field' }),
      }));
      return reply.code(400).send(errorBody('invalid_request', error.message, details));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(errorBody(codeForStatus(status), error.message));
    }
    const away = unavailable(error);
    if (away) {
      // A statement PostgreSQL cancelled for running too long: the same request would again, so
      // no Retry-After invites a client to repeat it in 5 s.
      if (isStatementTimeout(error)) {
        request.log.warn({ err: error, unavailable: away }, 'request answered 503: statement time-out');
        return reply.code(503).send(errorBody('unavailable', 'PostgreSQL stopped the request: it ran past its time limit; ask for less (a shorter period) or try later'));
      }
      request.log.warn({ err: error, unavailable: away }, `request answered 503: ${away} is unavailable`);
      return reply.code(503).header('retry-after', UNAVAILABLE_RETRY_AFTER_SECONDS).send(errorBody('unavailable', `${away} is unavailable; try again shortly`));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody('internal', 'internal error; see the server log'));
  });
}
