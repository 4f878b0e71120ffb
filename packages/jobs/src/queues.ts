import type { Static, TSchema } from '@sinclair/typebox';
import { Queue, Worker, type Job, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { parsePayload, sendPush, sendSms, type JobDefinition } from './catalogue';
import { counters, type Counters } from './counters';

/** Workers and queues block on Redis; BullMQ needs unlimited retries per request. */
export function redisConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

export function openQueue(job: JobDefinition<TSchema>, connection: Redis, prefix: string): Queue {
  return new Queue(job.queue, { connection, prefix, defaultJobOptions: job.options });
}

export interface MessageQueues {
  sms: Queue;
  push: Queue;
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
    counters: counted,
    close: async () => void (await Promise.all([sms.close(), push.close(), counted.flush()])),
  };
}

const CHUNK = 1000;

/** Adds one job per payload in chunks; payloads are checked first, so nothing half-valid is queued. */
export async function enqueue<S extends TSchema>(queue: Queue, job: JobDefinition<S>, payloads: Static<S>[]): Promise<void> {
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
