import { createHash, timingSafeEqual } from 'node:crypto';
import { findActiveApiKey, type Database, type Role } from '@lr/db';
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

function sameSecret(a: string, b: string): boolean {
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

export function apiKeyIdentity(db: Database, bootstrapAdminKey: string | undefined): IdentifyCaller {
  return oncePerRequest(async (request) => {
    const key = presentedKey(request);
    if (!key) return undefined;
    if (bootstrapAdminKey && sameSecret(key, bootstrapAdminKey)) return { keyId: null, name: 'ADMIN_API_KEY', role: 'admin' };
    const found = await findActiveApiKey(db, key);
    return found && { keyId: found.id, name: found.name, role: found.role };
  });
}

export function apiKeyAuth(identify: IdentifyCaller) {
  /** A preHandler: 401 without a known key, 403 when the key's role is below `role`. */
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
