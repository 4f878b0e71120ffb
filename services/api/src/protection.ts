/**
 * What stands in front of every route: security headers (@fastify/helmet) and a request
 * rate limit per known API key, platform token or client address, counted in Redis
 * (@fastify/rate-limit) so that it holds across API replicas.
 */
import helmet from '@fastify/helmet';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { ApiError, errorBody } from './errors';
import { MAX_ARRAY_ITEMS } from './limits';
import { LINK_PATH } from '@lr/domain';

export interface ProtectionOptions {
  redis: Redis;
  /** the routes providers post their receipts to: never limited */
  receiptRoutes: string[];
  /** QUEUE_PREFIX: the counters live under `${prefix}:rate:` */
  queuePrefix: string;
  /** RATE_LIMIT_PER_MINUTE: requests per key (or address) per minute */
  perMinute: number;
  /**
   * Who the request is, when its token is a known API key or a valid platform token: its own
   * count. Without `askDatabase`, only what is known without a query (a platform token's
   * signature, the API keys looked up lately).
   */
  knownSender: (request: FastifyRequest, options: { askDatabase: boolean }) => Promise<string | undefined>;
}

/** The HTML interfaces: swagger-ui and the bull-board dashboard. */
export const UI_PREFIXES = ['/docs', '/admin/queues'] as const;

/**
 * Never limited: probes, and the providers' receipts (ProtectionOptions.receiptRoutes): Twilio's
 * status callbacks are retried by Twilio and signed; Alibaba Cloud's delivery reports come
 * from a few addresses, in bursts as large as the sends, and a wrong token costs a hash, no
 * query. Metrics scrapes are counted: a wrong bearer on /metrics costs a key look-up.
 */
const PROBES = ['/healthz', '/readyz'];

/**
 * Holders' renewal links (GET /r/{token}) are limited per address on a count of their own,
 * never below this many a minute whatever RATE_LIMIT_PER_MINUTE says: a shop or a family
 * behind one address opens several, and a holder must never be turned away from renewing.
 */
export const MIN_LINK_OPENINGS_PER_MINUTE = 60;

const isLinkRequest = (request: FastifyRequest) => request.routeOptions.url?.startsWith(LINK_PATH) === true;

/** JSON needs no sources at all; a strict policy costs nothing and stops the response from being framed or run. */
const API_CSP = {
  useDefaults: false,
  directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
};

/**
 * What swagger-ui and bull-board need: their own scripts (both load only external script
 * files; bull-board's inline block is `type="application/json"`, which is not run), inline
 * styles and style attributes, bull-board's Google Fonts stylesheet and fonts, `data:`
 * images. Helmet's default minus `upgrade-insecure-requests`, which would break the pages
 * when the API is reached over plain HTTP on an intranet address.
 */
const UI_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    baseUri: ["'self'"],
    connectSrc: ["'self'"],
    fontSrc: ["'self'", 'https:', 'data:'],
    formAction: ["'self'"],
    frameAncestors: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    objectSrc: ["'none'"],
    scriptSrc: ["'self'"],
    scriptSrcAttr: ["'none'"],
    styleSrc: ["'self'", 'https:', "'unsafe-inline'"],
  },
};

const isUiRoute = (url: string) => UI_PREFIXES.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));

/** The length of the longest array in `value`, looked for down to `maxDepth` levels. */
export function longestArray(value: unknown, maxDepth = 32): number {
  let longest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object' || depth > maxDepth) continue;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    if (Array.isArray(node)) longest = Math.max(longest, node.length);
    if (longest > MAX_ARRAY_ITEMS) break;
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return longest;
}

/** How long a counter may take before the request goes through uncounted (Redis down or stalled). */
const LIMITER_TIMEOUT_MS = 2000;

/**
 * The bucket of a request: who it is (a known API key, a licensee with a valid platform
 * token; hashed, as Redis keys are not the place for names) or else its address (an IPv6
 * client by its /64). A token nobody issued counts against the address, or a client could
 * make up a new token for every guess and never be limited. A key not looked up lately is
 * looked up only while its address is under its count: past it, made-up keys cost no query.
 */
export async function rateLimitKey(
  request: FastifyRequest,
  knownSender: ProtectionOptions['knownSender'],
  addressOverLimit: (addressKey: string) => Promise<boolean>,
): Promise<string> {
  const addressKey = `ip:${normalizeIP(request.ip)}`;
  const sender =
    (await knownSender(request, { askDatabase: false })) ??
    (request.headers.authorization !== undefined && !(await addressOverLimit(addressKey))
      ? await knownSender(request, { askDatabase: true })
      : undefined);
  if (sender !== undefined) return `key:${createHash('sha256').update(sender).digest('base64url').slice(0, 32)}`;
  return addressKey;
}

/**
 * Registers helmet and the rate limit on the root instance. Call it before any route is
 * registered: the per-route settings are attached by an onRoute hook.
 */
export async function registerProtection(app: FastifyInstance, { redis, queuePrefix, perMinute, knownSender, receiptRoutes }: ProtectionOptions): Promise<void> {
  const exempt: ReadonlySet<string> = new Set([...PROBES, ...receiptRoutes]);
  const nameSpace = `${queuePrefix}:rate:`;
  // The plugin's Redis store keeps each bucket's count under nameSpace + key: read, not counted.
  const addressOverLimit = async (addressKey: string) => Number(await redis.get(nameSpace + addressKey)) >= perMinute;
  // Runs before helmet's own onRoute hook, which turns `helmet` into the route's config.
  app.addHook('onRoute', (route) => {
    if (route.helmet === undefined && isUiRoute(route.url)) route.helmet = { contentSecurityPolicy: UI_CSP };
  });
  await app.register(helmet, { global: true, contentSecurityPolicy: API_CSP });

  app.addHook('preValidation', async (request) => {
    if (typeof request.body === 'object' && longestArray(request.body) > MAX_ARRAY_ITEMS) {
      throw new ApiError(400, 'invalid_request', `a JSON array may hold at most ${MAX_ARRAY_ITEMS} items`);
    }
  });

  // The plugin's per-route hooks are off (global: false): one root hook below limits every
  // request, unknown routes included, and answers in the contract's shape also where a
  // plugin (bull-board) has an error handler of its own.
  await app.register(rateLimit, {
    global: false,
    redis,
    nameSpace,
    max: (request) => (isLinkRequest(request) ? Math.max(perMinute, MIN_LINK_OPENINGS_PER_MINUTE) : perMinute),
    timeWindow: 60_000,
    // A link is opened without a key: counted by address alone, apart from the address's other requests.
    keyGenerator: (request) =>
      isLinkRequest(request) ? `link-ip:${normalizeIP(request.ip)}` : rateLimitKey(request, knownSender, addressOverLimit),
  });
  // Without options: the plugin's own settings and store (options would make a per-route child store).
  const limiter = app.createRateLimit();

  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && exempt.has(route)) return;
    // Fail open: Redis being away must not take the API down with it (/readyz reports it).
    // Only a connected Redis is asked; one that is (re)connecting would hold the request.
    if (redis.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`no answer from Redis in ${LIMITER_TIMEOUT_MS} ms`)), LIMITER_TIMEOUT_MS);
    });
    const result = await Promise.race([limiter(request), timeout])
      .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))
      .finally(() => clearTimeout(timer));
    if (result instanceof Error) {
      request.log.warn({ err: result }, 'request let through without counting it against the rate limit');
      return;
    }
    if (result.isAllowed) return;
    void reply.header('x-ratelimit-limit', result.max);
    void reply.header('x-ratelimit-remaining', result.remaining);
    void reply.header('x-ratelimit-reset', result.ttlInSeconds);
    if (!result.isExceeded) return;
    void reply.header('retry-after', result.ttlInSeconds);
    return reply
      .code(429)
      .send(errorBody('rate_limited', `too many requests: at most ${result.max} a minute; retry in ${result.ttlInSeconds} s`));
  });
}
