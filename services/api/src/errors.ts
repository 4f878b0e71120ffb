import type { FastifyError, FastifyInstance } from 'fastify';

/** An error the client can act on: `{ error: { code, message, details? } }` (contract.md). */
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

/** Every error leaves in the contract's shape; only our own faults are 5xx. */
export function installErrorHandling(app: FastifyInstance): void {
  // PostgreSQL cannot store a NUL character: refuse it at the door, in any field.
  app.addHook('preValidation', async (request) => {
    if (containsNul(request.params) || containsNul(request.query) || containsNul(request.body)) {
      throw new ApiError(400, 'invalid_request', 'text may not contain NUL characters');
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
      const details = error.validation.map((v) => ({
        field: `${error.validationContext ?? ''}${v.instancePath.replaceAll('/', '.')}`.replace(/^body\.?/, '') || '(body)',
        message: v.message ?? 'is invalid',
        ...(v.keyword === 'additionalProperties' && { field: String(v.params.additionalProperty), message: 'unknown field' }),
      }));
      return reply.code(400).send(errorBody('invalid_request', error.message, details));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      return reply.code(status).send(errorBody(code, error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody('internal', 'internal error; see the server log'));
  });
}
