import { maskText, quietHoursEnd, type QuietHours } from '@lr/domain';
import { counters, startWorker, type MessageJob } from '@lr/jobs';
import { DelayedError, RateLimitError, UnrecoverableError, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { messageDelivery, type Channel, type DeliveryDeps, type SentContent } from './deliver';

export interface DeliveryWorkerOptions<Content extends SentContent> {
  job: MessageJob;
  channel: Channel<Content>;
  deps: DeliveryDeps;
  connection: Redis;
  prefix: string;
  concurrency: number;
  quietHours: QuietHours | null;
  timezone: string;
  /** most jobs per second across every worker of this queue */
  ratePerSecond?: number;
  /** how long sending pauses when the provider's account cannot send [ACCOUNT_PAUSE_MS] */
  accountPauseMs?: { first: number; max: number };
}

/**
 * A BullMQ worker around deliverMessage: waits out quiet hours by delaying the job
 * to their end (not by failing it), lets BullMQ retry transient errors with the
 * catalogue's backoff, and never retries a permanent one.
 */
export function startDeliveryWorker<Content extends SentContent>(options: DeliveryWorkerOptions<Content>): Worker {
  // One clock for the job's quiet hours and pauses and for the channel's daily cap (deps.now).
  const now = options.deps.now ?? (() => new Date());
  const deliver = messageDelivery(options.deps, options.channel);
  const counted = counters(options.connection, options.prefix);
  const channel = options.channel.name;
  const pause = accountPause(options.accountPauseMs ?? ACCOUNT_PAUSE_MS, now);
  const worker = startWorker(
    options.job,
    async (payload, job, token) => {
      // Due work waits for the end of quiet hours; it is delayed, not failed or retried in a loop.
      const until = quietHoursEnd(options.quietHours, options.timezone, now());
      if (until) {
        await job.moveToDelayed(until.getTime(), token);
        throw new DelayedError();
      }
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const result = await deliver(payload.messageId, lastAttempt);
      if (result.outcome === 'paused') {
        // The provider's account cannot send (balance, suspension, credentials): every message
        // would meet the same, so the queue pauses (every worker of it), with a growing wait
        // while it lasts. The message fails nothing and goes back untried.
        const { ms, first } = pause.next();
        if (first) {
          counted.add('providerPauses', 1, channel);
          options.deps.log.error({ channel, code: result.code, reason: result.message, pauseMs: ms }, `${channel} sending paused: the provider account cannot send`);
        }
        if (options.ratePerSecond !== undefined) {
          await worker.rateLimit(ms);
          throw new RateLimitError();
        }
        await job.moveToDelayed(now().getTime() + ms, token);
        throw new DelayedError();
      }
      if (result.outcome === 'sent') pause.reset();
      if (result.outcome === 'sent') counted.add('messagesSent', 1, channel);
      if (result.outcome === 'failed') counted.add('messagesFailed', 1, channel);
      if (result.outcome === 'held') {
        await job.moveToDelayed(result.until.getTime(), token);
        throw new DelayedError();
      }
      // The job keeps the reason for the queue dashboard: a provider's message may name the phone.
      if (result.outcome === 'retry') throw new Error(`${result.code}: ${maskText(result.message)}`);
      if (result.outcome === 'failed') throw new UnrecoverableError(`${result.code}: ${maskText(result.message)}`);
      return result;
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      // A job whose worker died comes back within about half the claim's lease (BullMQ's
      // default is 30 s to 60 s), and then waits for the rest of it (deliverMessage).
      ...jobLock(options.deps.claimLeaseSeconds),
      ...(options.ratePerSecond !== undefined && { limiter: { max: options.ratePerSecond, duration: 1000 } }),
    },
  );
  // Before the service quits its Redis connection: close() has let the jobs under way finish.
  worker.on('closed', () => void counted.flush());
  return worker;
}

/** The first pause of sending when the provider's account cannot send, and the longest. */
export const ACCOUNT_PAUSE_MS = { first: 5_000, max: 300_000 };

/**
 * How long sending pauses while the provider's account cannot send: doubling from
 * `first` to `max` while it lasts, from the first again once a message goes.
 * `first` says whether this starts a pause (the jobs under way meet it together; it is
 * logged and counted once).
 */
function accountPause(limits: { first: number; max: number }, now: () => Date) {
  let ms = 0;
  let until = 0;
  return {
    next() {
      // The worker's clock, as the delay the pause puts on a job.
      const at = now().getTime();
      const first = at >= until;
      if (first) ms = Math.min(limits.max, ms === 0 ? limits.first : ms * 2);
      until = Math.max(until, at + ms);
      return { ms: Math.max(1, until - at), first };
    },
    reset() {
      ms = 0;
      until = 0;
    },
  };
}

/** BullMQ's job lock, renewed while the job runs; a lapsed one marks the job stalled. */
function jobLock(claimLeaseSeconds: number) {
  const ms = Math.min(30_000, Math.max(1_000, (claimLeaseSeconds * 1000) / 2));
  return { lockDuration: ms, stalledInterval: ms };
}

/**
 * How long one of a worker's statements may run or wait for a lock: the jobs under way share
 * statements, so one stuck would hold them all back. It then fails, and its messages are
 * tried one at a time (batched). A third of the claim's lease, 5 s at least.
 */
export function statementTimeoutMs(claimLeaseSeconds: number): number {
  return Math.max(5_000, Math.floor((claimLeaseSeconds * 1000) / 3));
}

/**
 * How long a provider call may take: within a third of the claim's lease, so that a send
 * under way is never taken for one whose worker died (10 s unless the lease is short).
 */
export function providerTimeoutMs(claimLeaseSeconds: number): number {
  return Math.min(10_000, Math.floor((claimLeaseSeconds * 1000) / 3));
}
