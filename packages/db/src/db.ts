import { CamelCasePlugin, Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { DatabaseUnavailableError, watchLiveness, type Liveness, type OnAvailability } from './liveness';
import type { DB } from './schema';

// Business dates stay 'YYYY-MM-DD' strings: a JS Date would shift them by the
// process's time zone. Counts (int8) fit easily in a JS number.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Database = Kysely<DB>;

/** A Database inside a transaction: what `set local` and the like need. */
export type DatabaseTransaction = Transaction<DB>;

export interface DatabaseHandle {
  db: Database;
  pool: pg.Pool;
  /** Cancels what a backend runs (copyCsv's COPY of a client that went away), from a connection outside the pool. */
  cancelBackend: CancelBackend;
  /** false while the liveness watch (ConnectOptions.watch) finds PostgreSQL not answering; always true without one */
  answering(): boolean;
  close(): Promise<void>;
}

export type CancelBackend = (pid: number) => Promise<void>;

/** How long a cancel may take to connect and be answered before it is given up. */
const CANCEL_TIMEOUT_MS = 5_000;

export interface ConnectOptions {
  max?: number;
  applicationName?: string;
  /** PostgreSQL cancels a statement that runs (or waits for a lock) longer than this */
  statementTimeoutMs?: number;
  /** How long a query may wait for a connection: a new one to be made, or one of the pool's to be free [CONNECT_TIMEOUT_MS] */
  connectTimeoutMs?: number;
  /**
   * Checks every second that PostgreSQL answers (liveness.ts); while it does not, the pool's
   * connections are broken and a query fails at once with DatabaseUnavailableError. For
   * the processes that answer requests or hold the scan lock.
   */
  watch?: { onAvailability?: OnAvailability };
}

/**
 * A PostgreSQL that refuses, drops or never answers a new connection fails the query that
 * asked for it after this long, rather than holding it (and a request) for the minutes TCP
 * takes to give up. Also the longest a query waits for a connection of a full pool.
 */
export const CONNECT_TIMEOUT_MS = 3_000;

export function connect(databaseUrl: string, options: ConnectOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'license-reminders',
    ...(options.statementTimeoutMs !== undefined && { statement_timeout: options.statementTimeoutMs }),
    connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    // A connection whose peer vanished (a failover) is found out by TCP, not left to hang.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // A connection lost (PostgreSQL restarting) must not crash the process: the pool
  // reports it for idle clients, and a client that is checked out (a scan holds one for
  // its lock) reports it itself. The query running on it, or the next one, fails and
  // is handled where it was made; the pool then drops the broken client.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const liveness: Liveness | undefined = options.watch && watchLiveness(pool, databaseUrl, options.watch);
  // While PostgreSQL does not answer, a query is refused before it waits for a connection.
  const connections = {
    connect: () => (liveness?.answering() === false ? Promise.reject(new DatabaseUnavailableError('it did not answer the last check')) : pool.connect()),
    end: () => pool.end(),
  };
  // Columns are snake_case in SQL and camelCase in TypeScript, as in the contract.
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: connections }), plugins: [new CamelCasePlugin()] });
  return {
    db,
    pool,
    cancelBackend: (pid) => cancelBackend(databaseUrl, pid),
    answering: () => liveness?.answering() ?? true,
    async close() {
      await liveness?.stop();
      await db.destroy();
    },
  };
}

/** PostgreSQL's query_canceled: a statement_timeout (or a cancel) ended the statement. */
const QUERY_CANCELED = '57014';

/** PostgreSQL's error classes of a server that cannot serve (connection exception, shutting down, too many connections) and of a statement cancelled (statement_timeout). */
const UNAVAILABLE_SQLSTATE = new RegExp(`^(08...|57P0[1-3]|53300|${QUERY_CANCELED})$`);

/** pg's words for a connection that failed, timed out or was broken. */
const CONNECTION_LOST = /Connection terminated|timeout exceeded when trying to connect|not queryable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH/;

/** Asks PostgreSQL through the pool (readiness): resolves when it answers, rejects when it does not. */
export async function pingDatabase(db: Database): Promise<void> {
  await sql`select 1`.execute(db);
}

/** Whether a statement_timeout (or a cancel) ended the statement: the same request would run as long again. */
export function isStatementTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === QUERY_CANCELED;
}

/** Whether `error` says that PostgreSQL is away or did not answer in time (rather than that a statement is wrong). */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || CONNECTION_LOST.test(code))) return true;
  return CONNECTION_LOST.test(error.message);
}

/**
 * Asks PostgreSQL to cancel the statement backend `pid` runs, on a connection of its own:
 * every connection of the pool may be held by the very statements waiting to be cancelled.
 */
async function cancelBackend(databaseUrl: string, pid: number): Promise<void> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'license-reminders cancel',
    connectionTimeoutMillis: CANCEL_TIMEOUT_MS,
    statement_timeout: CANCEL_TIMEOUT_MS,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select pg_cancel_backend($1)', [pid]);
  } finally {
    await client.end().catch(() => undefined);
  }
}
