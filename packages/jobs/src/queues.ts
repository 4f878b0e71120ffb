import type { Static, TSchema } from '@sinclair/typebox';
import { Queue, Worker, type Job, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { parsePayload, sendPush, sendSms, type JobDefinition } from './catalogue';
import { counters, type Counters } from './counters';

/** Workers block on Redis; BullMQ needs unlimited retries per request on their connections. */
export function redisConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

/**
 * How long a producer's command may wait for Redis's answer (a Redis stopped, or
 * unreachable). Redis answers in milliseconds (a chunk of 1,000 jobs in about 50 ms); a
 * request may meet it twice (the rate limit, then a scan's enqueue) within the 5 s in which
 * it must be answered.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1_000;

/**
 * The connection of the processes that only add to the queues and read them (the API, the
 * scheduler, the scan command: openProducerQueues): with Redis away, a command fails at once
 * (no offline queue) or after PRODUCER_COMMAND_TIMEOUT_MS (a Redis that stopped answering),
 * rather than waiting for its return while a request, or a scan holding its lock, waits with it. What failed is in
 * PostgreSQL still; the scheduler's sweeper queues it once Redis is back. The connection
 * itself reconnects for ever.
 */
function producerConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    connectTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    enableReadyCheck: true,
  });
}

/** Redis is down, or did not answer in time: the work was not done, and may be asked again later. */
export class RedisUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`Redis is unavailable: ${reason}`);
    this.name = 'RedisUnavailableError';
  }
}

/**
 * Rejects with RedisUnavailableError when a connection that fails fast (producerConnection)
 * is not connected within PRODUCER_COMMAND_TIMEOUT_MS: a queue on it would wait inside BullMQ
 * for it to connect, whatever its options. The wait lets a process that just started (or a
 * connection coming back) connect first. A worker's connection (redisConnection) is meant
 * to wait, and is let through.
 */
export async function requireRedis(connection: Redis): Promise<void> {
  if (connection.options.enableOfflineQueue !== false || connection.status === 'ready') return;
  if (connection.status === 'end') throw new RedisUnavailableError('the connection was closed');
  await new Promise<void>((resolve, reject) => {
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      connection.off('ready', ready);
      reject(new RedisUnavailableError(`not connected within ${PRODUCER_COMMAND_TIMEOUT_MS} ms (${connection.status})`));
    }, PRODUCER_COMMAND_TIMEOUT_MS);
    connection.once('ready', ready);
  });
}

/** ioredis's own words for a command refused or dropped because Redis is away. */
const REDIS_AWAY = /enableOfflineQueue|Command timed out|Connection is closed|max retries per request/i;

/** Whether `error` says that Redis is away (rather than a command or a job that is wrong). */
export function isRedisUnavailable(error: unknown): boolean {
  if (error instanceof RedisUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  return error.name === 'MaxRetriesPerRequestError' || REDIS_AWAY.test(error.message);
}

export function openQueue(job: JobDefinition<TSchema>, connection: Redis, prefix: string): Queue {
  const queue = new Queue(job.queue, { connection, prefix, defaultJobOptions: job.options });
  // Every failed reconnection is also an 'error' of every queue; without a listener BullMQ
  // prints each. A producer logs its connection's state once per outage (openProducerQueues).
  queue.on('error', () => {});
  return queue;
}

/** Logs once when Redis goes away and once when it is back, rather than every failed reconnection. */
function logRedisAvailability(connection: Redis, log: RedisAvailabilityLog): void {
  let away = false;
  connection.on('error', () => {}); // reported below, once
  // 'reconnecting', not 'close': a connection closed by quit() at a clean stop does not reconnect.
  connection.on('reconnecting', () => {
    if (away) return;
    away = true;
    log.error({ redis: 'unavailable' }, 'Redis is unavailable: queueing fails fast (503 unavailable) until it is back; the sweeper then queues what was missed');
  });
  connection.on('ready', () => {
    if (!away) return;
    away = false;
    log.info({ redis: 'available' }, 'Redis is available again');
  });
}

/** The two calls of a pino logger that logRedisAvailability makes. */
export interface RedisAvailabilityLog {
  error(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface MessageQueues {
  sms: Queue;
  push: Queue;
  /** Rejects with RedisUnavailableError when the queues' connection fails fast and does not connect in time. */
  requireRedis(): Promise<void>;
  /** what producers count on the same Redis (reminders created, renewals, expiries) */
  counters: Counters;
  close(): Promise<void>;
}

/** The two queues that carry outgoing messages to their workers. */
export function openMessageQueues(connection: Redis, prefix: string): MessageQueues {
  const sms = openQueue(sendSms, connection, prefix);
  const push = openQueue(sendPush, connection, prefix);
  const counted = counters(connection, prefix);
  return {
    sms,
    push,
    requireRedis: () => requireRedis(connection),
    counters: counted,
    close: async () => void (await Promise.all([sms.close(), push.close(), counted.flush()])),
  };
}

/** The message queues of a process that only adds to them, with the connection they own. */
export interface ProducerQueues extends MessageQueues {
  connection: Redis;
}

/**
 * The queues of a process that only adds to them (the API, the scheduler, the scan command),
 * on a connection of their own that fails fast (producerConnection). Given a log, Redis's
 * outages are logged once each. close() closes the queues, then the connection.
 */
export function openProducerQueues(redisUrl: string, prefix: string, log?: RedisAvailabilityLog): ProducerQueues {
  const connection = producerConnection(redisUrl);
  if (log) logRedisAvailability(connection, log);
  const queues = openMessageQueues(connection, prefix);
  return {
    ...queues,
    connection,
    async close() {
      await queues.close();
      await connection.quit().catch(() => connection.disconnect()); // Redis away: nothing to say goodbye to
    },
  };
}

const CHUNK = 1000;

/** Adds one job per payload in chunks; payloads are checked first, so nothing half-valid is queued. */
export async function enqueue<S extends TSchema>(queue: Queue, job: JobDefinition<S>, payloads: Static<S>[]): Promise<void> {
  await requireRedis(queue.opts.connection as Redis);
  const jobs = payloads.map((payload) => ({
    name: job.name,
    data: parsePayload(job, payload),
    opts: { ...job.options, jobId: job.jobId(payload) },
  }));
  for (let i = 0; i < jobs.length; i += CHUNK) await queue.addBulk(jobs.slice(i, i + CHUNK));
}

/**
 * The payloads whose job will not run: those this queue does not hold at all (lost with
 * Redis's data, or never added), and those whose job has finished (completed or failed)
 * although the caller still wants it run. A finished job with the same id makes BullMQ
 * ignore a new add, so those are removed here, and the caller adds them again. That
 * happens when message ids are used again (a database restored or recreated while Redis
 * kept its jobs). Asked in one round trip, whatever their number. `redis` is the
 * connection the queue was opened on.
 */
export async function jobsThatWillNotRun<S extends TSchema>(
  redis: Redis,
  queue: Queue,
  job: JobDefinition<S>,
  payloads: Static<S>[],
): Promise<Static<S>[]> {
  if (payloads.length === 0) return [];
  await requireRedis(redis);
  const pipeline = redis.pipeline();
  for (const payload of payloads) pipeline.hmget(queue.toKey(job.jobId(payload)), 'timestamp', 'finishedOn');
  const answers = (await pipeline.exec()) ?? [];
  const wontRun: Static<S>[] = [];
  for (const [i, payload] of payloads.entries()) {
    const [error, fields] = answers[i] ?? [new Error('no answer')];
    if (error) throw error;
    const [added, finishedOn] = fields as (string | null)[];
    if (added === null) wontRun.push(payload);
    else if (finishedOn !== null) {
      await queue.remove(job.jobId(payload));
      wontRun.push(payload);
    }
  }
  return wontRun;
}

export type Processor<S extends TSchema> = (payload: Static<S>, job: Job, token: string | undefined) => Promise<unknown>;

/** A worker that refuses payloads of the wrong shape before its processor sees them. */
export function startWorker<S extends TSchema>(
  job: JobDefinition<S>,
  processor: Processor<S>,
  options: Omit<WorkerOptions, 'connection' | 'prefix'> & { connection: Redis; prefix: string },
): Worker {
  return new Worker(job.queue, (bullJob, token) => processor(parsePayload(job, bullJob.data), bullJob, token), options);
}
