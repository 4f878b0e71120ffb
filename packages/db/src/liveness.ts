import pg from 'pg';

/**
 * A PostgreSQL that stops answering (a server hung, a network that drops its packets, a
 * proxy that holds its connections) leaves a pool's connections waiting for ever: TCP sees
 * nothing wrong, and no statement time-out runs on a server that does not run. Statements
 * may legitimately run for seconds (a report, a scan), so a time-out per query cannot tell
 * the two apart. A `select 1` on a connection of its own can: this asks it every
 * CHECK_EVERY_MS, and when it gets no answer in NO_ANSWER_MS, the database is down: every
 * connection of the pool is broken (what waited on them fails at once), and until a check
 * is answered again a connection asked of the pool is refused at once.
 */
export const CHECK_EVERY_MS = 1_000;
export const NO_ANSWER_MS = 2_500;

/** PostgreSQL did not answer: the work was not done, and may be asked again later. */
export class DatabaseUnavailableError extends Error {
  constructor(reason: string) {
    super(`PostgreSQL is unavailable: ${reason}`);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Told when the database stops answering and when it answers again. */
export type OnAvailability = (answering: boolean, reason: string) => void;

export interface Liveness {
  /** false from a check that went unanswered to the next one answered */
  answering(): boolean;
  stop(): Promise<void>;
}

export interface LivenessOptions {
  checkEveryMs?: number;
  noAnswerMs?: number;
  onAvailability?: OnAvailability;
}

/** Watches `databaseUrl` from a connection of its own; breaks `pool`'s connections when it stops answering. */
export function watchLiveness(pool: pg.Pool, databaseUrl: string, options: LivenessOptions = {}): Liveness {
  const checkEveryMs = options.checkEveryMs ?? CHECK_EVERY_MS;
  const noAnswerMs = options.noAnswerMs ?? NO_ANSWER_MS;
  const clients = new Set<pg.Client>();
  pool.on('connect', (client) => clients.add(client));
  pool.on('remove', (client) => clients.delete(client));

  let answering = true;
  let probe: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();

  const dropProbe = () => {
    probe?.connection.stream.destroy();
    probe = undefined;
  };
  /** undefined: answered; otherwise why not, and whether it was silence (no answer at all in time) */
  const check = async (): Promise<{ reason: string; silent: boolean } | undefined> => {
    try {
      if (!probe) {
        const client = new pg.Client({ connectionString: databaseUrl, application_name: 'license-reminders liveness', connectionTimeoutMillis: noAnswerMs });
        client.on('error', () => {});
        probe = client;
        await client.connect();
      }
      await answeredWithin(probe.query('select 1'), noAnswerMs);
      return undefined;
    } catch (error) {
      dropProbe();
      const reason = error instanceof Error ? error.message : String(error);
      return { reason, silent: error instanceof NoAnswer || /timeout/i.test(reason) };
    }
  };
  const next = () => {
    round = check().then((failure) => {
      if (failure === undefined && !answering) {
        answering = true;
        options.onAvailability?.(true, 'a check was answered');
      } else if (failure?.silent) {
        if (answering) options.onAvailability?.(false, failure.reason);
        answering = false;
        // What waits on these would wait until PostgreSQL answers again: it fails now instead.
        for (const client of clients) client.connection.stream.destroy();
      }
      // An error PostgreSQL sent or a connection it refused (too many connections, shutting
      // down, not listening) is not silence: the pool's connections may still serve (too many
      // connections), or fail at once by themselves (shut down); they are left alone.
      if (!stopped) timer = setTimeout(next, checkEveryMs);
    });
  };
  next();
  return {
    answering: () => answering,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
      await probe?.end().catch(() => undefined);
    },
  };
}

class NoAnswer extends Error {}

/**
 * Resolves when `query` is answered, rejects when it is not within `ms`. The time-out is
 * decided after the I/O that the same turn of the event loop brings in: a process that was
 * itself stalled (a long GC pause, a starved CPU) finds the answer waiting, not a time-out.
 */
function answeredWithin(query: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new NoAnswer(`no answer to select 1 in ${ms} ms`));
      }),
      ms,
    );
    query.then(
      () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The two calls of a pino logger that logDatabaseAvailability makes. */
export interface AvailabilityLog {
  error(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** One log line when PostgreSQL stops answering, one when it answers again. */
export function logDatabaseAvailability(log: AvailabilityLog): OnAvailability {
  return (answering, reason) => {
    if (answering) log.info({ postgres: 'available' }, 'PostgreSQL answers again');
    else log.error({ postgres: 'unavailable', reason }, 'PostgreSQL is unavailable: requests that need it answer 503 unavailable until it answers again');
  };
}
