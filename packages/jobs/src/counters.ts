import type { Redis } from 'ioredis';

/**
 * Prometheus counters of what the service did, for a dashboard to chart. Every process adds
 * to one Redis hash under the queue prefix (the scan in the scheduler or the API, the sends
 * in the workers, renewals and renewal-link openings in the API), so the API's /metrics reads them all with one HGETALL,
 * whatever the size of the store. Like a process's own counters they start again from zero
 * when Redis loses its data; Prometheus' rate() takes that as a counter reset.
 */
export const COUNTERS = {
  remindersCreated: { metric: 'lr_reminders_created_total', help: 'Reminders created by scans' },
  messagesSent: { metric: 'lr_messages_sent_total', help: 'Outgoing messages handed to their provider, by channel' },
  messagesFailed: { metric: 'lr_messages_failed_total', help: 'Outgoing messages that failed for good, by channel' },
  renewals: { metric: 'lr_renewals_total', help: 'Licence renewals recorded (a later expiry date)' },
  cyclesExpired: { metric: 'lr_cycles_expired_total', help: 'Licence cycles a scan found past their date, unrenewed' },
  linkOpenings: { metric: 'lr_link_openings_total', help: 'Renewal links opened (GET /r/{token}) while they worked' },
  providerPauses: {
    metric: 'lr_provider_pauses_total',
    help: 'Times sending paused because the provider account could not send (balance, suspension, credentials), by channel',
  },
} as const;

export type CounterName = keyof typeof COUNTERS;

/** How long increments gather in a process before they go to Redis together. */
const FLUSH_MS = 1_000;

export interface Counters {
  /** Adds `by` to a counter (of one channel, where it has one); written within a second. */
  add(name: CounterName, by: number, channel?: 'sms' | 'push'): void;
  /** Writes what was added so far. */
  flush(): Promise<void>;
  /** Every counter's value by its field (`messagesSent:sms`, `renewals`). */
  read(): Promise<Map<string, number>>;
}

export function counters(redis: Redis, prefix: string): Counters {
  const key = `${prefix}:counters`;
  let pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const flush = async () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const multi = redis.multi();
    for (const [field, by] of batch) multi.hincrby(key, field, by);
    // A count that cannot be written is dropped, not retried: a metric must never hold up
    // or fail the work it counts.
    await multi.exec().catch(() => undefined);
  };

  return {
    add(name, by, channel) {
      if (by === 0) return;
      const field = channel ? `${name}:${channel}` : name;
      pending.set(field, (pending.get(field) ?? 0) + by);
      timer ??= setTimeout(() => void flush(), FLUSH_MS).unref();
    },
    flush,
    async read() {
      const values = await redis.hgetall(key);
      return new Map(Object.entries(values).map(([field, value]) => [field, Number(value)]));
    },
  };
}
