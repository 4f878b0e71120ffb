import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { pingDatabase, type Database } from '@lr/db';
import type { MessageQueues } from '@lr/jobs';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Redis } from 'ioredis';
import type { RequireRole } from '../auth';
import { ApiError, errorBody } from '../errors';
import { auditActor } from '../audit';
import { queueDashboardService } from '../services/queue-dashboard';

/** How long readiness waits for each of PostgreSQL and Redis (asked at once): a probe gives up at 3 s. */
const READY_CHECK_MS = 2_000;

/** Whether `check` answers true within READY_CHECK_MS; what does not answer is not ready. */
function answersInTime(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), READY_CHECK_MS)));
  return Promise.race([check().catch(() => false), late]).finally(() => clearTimeout(timer));
}

/** Liveness, and readiness: PostgreSQL and Redis both answer; `down` names those that do not. */
export function healthRoutes(db: Database, redis: Redis): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['ops'] } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['ops'] } }, async (_request, reply) => {
      const [postgres, redisOk] = await Promise.all([
        answersInTime(() => pingDatabase(db).then(() => true)),
        // Only a connected Redis is asked: one that is (re)connecting would hold the ping.
        answersInTime(async () => redis.status === 'ready' && (await redis.ping()) === 'PONG'),
      ]);
      if (postgres && redisOk) return { status: 'ready', postgres, redis: redisOk };
      const down = [...(postgres ? [] : ['postgres']), ...(redisOk ? [] : ['redis'])];
      // The contract's error first (as every error body), then what a probe reads.
      return reply.code(503).send({
        ...errorBody('unavailable', `not ready: ${down.join(' and ')} ${down.length > 1 ? 'do' : 'does'} not answer`),
        status: 'not ready',
        postgres,
        redis: redisOk,
        down,
      });
    });
  };
}

/** The job sets of a queue that the dashboard may clean or retry (BullMQ's clean types). */
const JOB_SETS: readonly string[] = ['completed', 'wait', 'waiting', 'active', 'paused', 'prioritized', 'delayed', 'failed'];

function decodesAsUriComponent(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

/** The BullMQ dashboard, for admin and operator keys (Bearer, or Basic auth in a browser). */
export async function registerQueueDashboard(app: FastifyInstance, db: Database, queues: MessageQueues, requireRole: RequireRole) {
  const dashboard = queueDashboardService({ db });
  const adapter = new FastifyAdapter();
  adapter.setBasePath('/admin/queues');
  createBullBoard({ queues: [new BullMQAdapter(queues.sms), new BullMQAdapter(queues.push)], serverAdapter: adapter });
  const operator = requireRole('operator');
  await app.register(
    async (scope) => {
      // Answered here: bull-board's own error handler would reshape a thrown error.
      scope.addHook('onRequest', async (request, reply) => {
        try {
          await operator(request, reply);
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          return reply.code(error.statusCode).send(errorBody(error.code, error.message));
        }
        // bull-board decodes some query values a second time (activeQueue, queueName): one that
        // does not decode again (`?activeQueue=%25`) would be a 500 of its own.
        const undecodable = Object.entries(request.query as Record<string, unknown>).find(([, value]) =>
          [value].flat().some((v) => typeof v === 'string' && !decodesAsUriComponent(v)),
        );
        if (undecodable) {
          return reply.code(400).send(errorBody('bad_request', `query parameter ${undecodable[0]} is not a valid URI component`));
        }
        // bull-board hands :queueStatus to BullMQ's clean() unchecked, which then works on
        // whatever Redis key of the queue that names (a job's hash: WRONGTYPE, a 500).
        const { queueStatus } = request.params as { queueStatus?: string };
        if (queueStatus !== undefined && !JOB_SETS.includes(queueStatus)) {
          return reply.code(400).send(errorBody('bad_request', `no such job state: ${queueStatus}; one of ${JOB_SETS.join(', ')}`));
        }
      });
      // BullMQ refuses a move the job's state does not allow (promote a job that is not
      // delayed, retry one that has not failed...) with a negative `code`: the client's 404 or
      // 409, not a fault of ours. Set before bull-board's error handler picks the status.
      scope.addHook('onError', async (_request, _reply, error) => {
        const code: unknown = (error as { code?: unknown }).code;
        if (typeof code === 'number' && code < 0 && error.statusCode === undefined) {
          (error as { statusCode?: number }).statusCode = code === -1 || code === -5 ? 404 : 409;
        }
      });
      // What the dashboard changes is audited before the answer leaves.
      scope.addHook('onSend', async (request, reply, payload) => {
        if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode >= 400 || !request.caller) return payload;
        const { queueName } = request.params as { queueName?: string };
        await dashboard
          .recordWrite({ queueName, request: `${request.method} ${request.url.split('?')[0]}`, status: reply.statusCode }, auditActor(request))
          .catch((error: unknown) => request.log.error({ err: error }, 'could not record a dashboard write in the audit log'));
        return payload;
      });
      await scope.register(adapter.registerPlugin());
    },
    { prefix: '/admin/queues' },
  );
}
