import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Database } from '@lr/db';
import type { MessageQueues } from '@lr/jobs';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RequireRole } from '../auth';
import { ApiError, errorBody } from '../errors';

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/** Liveness, and readiness: PostgreSQL and Redis both answer. */
export function healthRoutes(db: Database, redis: Redis): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['ops'] } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['ops'] } }, async (_request, reply) => {
      const [postgres, redisOk] = await Promise.all([
        sql`select 1`.execute(db).then(() => true, () => false),
        redis.ping().then((r) => r === 'PONG', () => false),
      ]);
      const ready = postgres && redisOk;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', postgres, redis: redisOk });
    });
  };
}

/** Prometheus metrics: queue depth per state, deliveries by channel and status, process figures. */
export function metricsRoutes(db: Database, queues: MessageQueues): FastifyPluginAsync {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'lr_queue_jobs',
    help: 'Jobs in each BullMQ queue, by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const queue of [queues.sms, queues.push]) {
        const counts = await queue.getJobCounts(...JOB_STATES);
        for (const state of JOB_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'lr_deliveries',
    help: 'Deliveries by channel and status',
    labelNames: ['channel', 'status'],
    registers: [registry],
    async collect() {
      const rows = await db
        .selectFrom('deliveries')
        .select(['channel', 'status', (eb) => eb.fn.countAll<number>().as('count')])
        .groupBy(['channel', 'status'])
        .execute();
      this.reset();
      for (const row of rows) this.set({ channel: row.channel, status: row.status }, Number(row.count));
    },
  });
  return async (app) => {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  };
}

/** The BullMQ dashboard, for admin and operator keys (Bearer, or Basic auth in a browser). */
export async function registerQueueDashboard(app: FastifyInstance, queues: MessageQueues, requireRole: RequireRole) {
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
      });
      await scope.register(adapter.registerPlugin());
    },
    { prefix: '/admin/queues' },
  );
}
