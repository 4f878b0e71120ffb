import { createHash, timingSafeEqual } from 'node:crypto';
import { findActiveApiKey, hashApiKey, type Database, type Role } from '@lr/db';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors';

export interface Caller {
  keyId: number | null;
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Whether two secrets are equal, compared in constant time (of their digests, so of any length). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The API key of a request: `Authorization: Bearer <key>`, or the password of Basic auth (the dashboard in a browser). */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization ?? '';
  const [scheme, value] = header.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer' && value) return value.trim();
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1) || undefined;
  }
  return undefined;
}

/** Whether the request presents `secret` as its bearer (or Basic password), compared in constant time. */
export function presentsSecret(request: FastifyRequest, secret: string): boolean {
  const key = presentedKey(request);
  return key !== undefined && sameSecret(key, secret);
}

/**
 * `identify`, asked at most once per request: the rate limit asks who a request is before
 * the route does, and one look-up (or token check) serves both.
 */
export function oncePerRequest<T>(identify: (request: FastifyRequest) => Promise<T>): (request: FastifyRequest) => Promise<T> {
  const answers = new WeakMap<FastifyRequest, Promise<T>>();
  return (request) => {
    let answer = answers.get(request);
    if (!answer) {
      answer = identify(request);
      answers.set(request, answer);
    }
    return answer;
  };
}

/** Who presents the API key of a request, if it is a known one. */
export type IdentifyCaller = (request: FastifyRequest) => Promise<Caller | undefined>;

export interface ApiKeyIdentity {
  /** Asks the database (once per request), so a revoked key is refused at once. */
  identify: IdentifyCaller;
  /**
   * Who presents the key as far as the look-ups of the last minute tell, without the
   * database: what the rate limit asks first, so that an address over its count is refused
   * whatever keys it makes up, without a query.
   */
  recentlySeen: (request: FastifyRequest) => Caller | undefined;
}

/** How long a key that was found is remembered for the rate limit. */
const SEEN_KEY_MS = 60_000;
/**
 * How long a key nobody issued is answered 401 without asking again: a client repeating a
 * wrong key costs one query per interval. (Keys are random: none is presented before it exists.)
 */
const UNKNOWN_KEY_MS = 10_000;
/** Keys remembered of each kind; past it, the oldest are forgotten (made-up keys cannot push out real ones). */
const REMEMBERED_KEYS = 10_000;

/** A map of at most `limit` entries that forgets its oldest and whatever is older than `ttlMs`. */
function recentMemory<T>(ttlMs: number, limit: number, now: () => number) {
  const entries = new Map<string, { value: T; until: number }>();
  return {
    get(key: string): T | undefined {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.until > now()) return entry.value;
      entries.delete(key);
      return undefined;
    },
    set(key: string, value: T): void {
      entries.delete(key);
      if (entries.size >= limit) entries.delete(entries.keys().next().value!);
      entries.set(key, { value, until: now() + ttlMs });
    },
    delete: (key: string) => void entries.delete(key),
  };
}

export function apiKeyIdentity(db: Database, bootstrapAdminKey: string | undefined, now: () => number = Date.now): ApiKeyIdentity {
  const bootstrap: Caller = { keyId: null, name: 'ADMIN_API_KEY', role: 'admin' };
  const seen = recentMemory<Caller>(SEEN_KEY_MS, REMEMBERED_KEYS, now);
  const unknown = recentMemory<true>(UNKNOWN_KEY_MS, REMEMBERED_KEYS, now);
  const digest = (key: string) => hashApiKey(key).toString('base64');
  const identify = oncePerRequest(async (request): Promise<Caller | undefined> => {
    const key = presentedKey(request);
    if (!key) return undefined;
    if (bootstrapAdminKey && sameSecret(key, bootstrapAdminKey)) return bootstrap;
    const hash = digest(key);
    if (unknown.get(hash)) return undefined;
    const found = await findActiveApiKey(db, key);
    if (!found) {
      seen.delete(hash);
      unknown.set(hash, true);
      return undefined;
    }
    const caller: Caller = { keyId: found.id, name: found.name, role: found.role };
    seen.set(hash, caller);
    return caller;
  });
  const recentlySeen = (request: FastifyRequest): Caller | undefined => {
    const key = presentedKey(request);
    if (!key) return undefined;
    if (bootstrapAdminKey && sameSecret(key, bootstrapAdminKey)) return bootstrap;
    return seen.get(digest(key));
  };
  return { identify, recentlySeen };
}

export function apiKeyAuth(identify: IdentifyCaller) {
  /**
   * A route's onRequest hook: 401 without a known key, 403 when the key's role is below
   * `role`, answered from the headers before the body is read.
   */
  return function requireRole(role: Role) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await identify(request);
      if (!caller) {
        if (request.url.startsWith('/admin/')) void reply.header('www-authenticate', 'Basic realm="queues"');
        throw new ApiError(401, 'unauthorized', 'an API key is required: Authorization: Bearer <key>');
      }
      if (RANK[caller.role] < RANK[role]) {
        throw new ApiError(403, 'forbidden', `the ${caller.role} role may not do this; it needs ${role}`);
      }
      request.caller = caller;
    };
  };
}

export type RequireRole = ReturnType<typeof apiKeyAuth>;
