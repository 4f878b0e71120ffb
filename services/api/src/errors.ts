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

function body(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details !== undefined && { details }) } };
}

/** Every error leaves in the contract's shape; only our own faults are 5xx. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(body('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send(body(error.code, error.message, error.details));
    }
    if (error.validation) {
      const details = error.validation.map((v) => ({
        field: `${error.validationContext ?? ''}${v.instancePath.replaceAll('/', '.')}`.replace(/^body\.?/, '') || '(body)',
        message: v.message ?? 'is invalid',
        ...(v.keyword === 'additionalProperties' && { field: String(v.params.additionalProperty), message: 'unknown field' }),
      }));
      return reply.code(400).send(body('invalid_request', error.message, details));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      return reply.code(status).send(body(code, error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(body('internal', 'internal error; see the server log'));
  });
}
