/**
 * Prometheus metrics: queue depth per state, the service's counters (kept in Redis by every
 * process: reminders created, messages sent and failed by channel, renewals, expiries), the
 * open follow-ups and process figures. A scrape asks Redis and reads figures kept in memory:
 * with METRICS_TOKEN (checked in memory) it never waits for PostgreSQL, whatever the size of
 * the store; an API key as bearer is looked up, as on every route.
 */
import { openFollowUpCounts, type Database } from '@lr/db';
import { COUNTERS, type CounterName, type MessageQueues } from '@lr/jobs';
import type { Logger } from '@lr/log';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { presentsSecret, type RequireRole } from '../auth';

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/** How old the open follow-up counts may be: Prometheus scrapes every 15 to 60 s. */
export const FOLLOW_UP_COUNTS_MAX_AGE_MS = 30_000;

/**
 * A figure read from the database at most once per `maxAgeMs`, in the background: a caller
 * gets the last figure at once (only the first load is waited for), and one that finds it
 * older than `maxAgeMs`, or missing, starts one refresh. A refresh that fails keeps the last
 * figure; a first load that failed (PostgreSQL down at start) leaves none, not a wait.
 */
export function backgroundFigure<T>(load: () => Promise<T>, maxAgeMs: number, log: Logger, now: () => number = Date.now) {
  let last: { value: T; at: number } | undefined;
  let refreshing: Promise<void> | undefined;
  const refresh = () =>
    (refreshing ??= load()
      .then((value) => void (last = { value, at: now() }))
      .catch((error: unknown) => log.warn({ err: error }, 'could not refresh a metric from the database; the last figure stands'))
      .finally(() => (refreshing = undefined)));
  let tried = false;
  return async (): Promise<T | undefined> => {
    if (!tried) {
      // Callers that come during the first load share it (refresh is one at a time).
      await refresh();
      tried = true;
    } else if (last === undefined || now() - last.at >= maxAgeMs) void refresh();
    return last?.value;
  };
}

/** Who may scrape: a bearer of METRICS_TOKEN, or of any API key (any role). */
export function scrapeAccess(metricsToken: string | undefined, requireRole: RequireRole) {
  const anyKey = requireRole('viewer');
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (metricsToken !== undefined && presentsSecret(request, metricsToken)) return;
    await anyKey(request, reply);
  };
}

export interface MetricsDeps {
  db: Database;
  queues: MessageQueues;
  log: Logger;
  metricsToken: string | undefined;
}

export function metricsRoutes({ db, queues, log, metricsToken }: MetricsDeps, requireRole: RequireRole): FastifyPluginAsync {
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
  const followUpCounts = backgroundFigure(() => openFollowUpCounts(db), FOLLOW_UP_COUNTS_MAX_AGE_MS, log);
  new Gauge({
    name: 'lr_follow_ups_open',
    help: `Open follow-ups (the staff work list), by reason; counted at most every ${FOLLOW_UP_COUNTS_MAX_AGE_MS / 1000} s`,
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const counts = await followUpCounts();
      for (const [reason, open] of Object.entries(counts ?? {})) this.set({ reason }, open);
    },
  });
  // Counters that other processes add to: read at each scrape, as gauges are, and declared
  // as counters so that a dashboard charts their rate. One read serves them all.
  let values: Promise<Map<string, number>> | undefined;
  const current = () => (values ??= queues.counters.read().finally(() => setImmediate(() => (values = undefined))));
  for (const [name, { metric, help }] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
    const byChannel = name === 'messagesSent' || name === 'messagesFailed';
    new Counter({
      name: metric,
      help,
      labelNames: byChannel ? ['channel'] : [],
      registers: [registry],
      async collect() {
        const read = await current();
        this.reset();
        if (!byChannel) return void this.inc(read.get(name) ?? 0);
        for (const channel of ['sms', 'push'] as const) this.inc({ channel }, read.get(`${name}:${channel}`) ?? 0);
      },
    });
  }
  const access = scrapeAccess(metricsToken, requireRole);
  return async (app) => {
    app.get('/metrics', { onRequest: access, schema: { hide: true } }, async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  };
}
