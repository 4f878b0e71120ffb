import type { FastifyRequest } from 'fastify';

/** Who made a write, as the audit log records it: the key's id (null for the ADMIN_API_KEY bootstrap key) and its name. */
export interface AuditActor {
  apiKeyId: number | null;
  actor: string;
}

/**
 * The caller of a request as an audit actor. Only for routes behind requireRole, which
 * identifies the caller; the services take the actor, never the request.
 */
export function auditActor(request: FastifyRequest): AuditActor {
  const caller = request.caller;
  if (!caller) throw new Error('auditActor needs a route behind requireRole');
  return { apiKeyId: caller.keyId, actor: caller.name };
}
