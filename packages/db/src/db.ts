import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DB } from './schema';

// Business dates stay 'YYYY-MM-DD' strings: a JS Date would shift them by the
// process's time zone. Counts (int8) fit easily in a JS number.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Database = Kysely<DB>;

export interface DatabaseHandle {
  db: Database;
  pool: pg.Pool;
  /** Cancels what a backend runs (copyCsv's COPY of a client that went away), from a connection outside the pool. */
  cancelBackend: CancelBackend;
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
}

export function connect(databaseUrl: string, options: ConnectOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'license-reminders',
    ...(options.statementTimeoutMs !== undefined && { statement_timeout: options.statementTimeoutMs }),
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
  // Columns are snake_case in SQL and camelCase in TypeScript, as in the contract.
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
  return { db, pool, cancelBackend: (pid) => cancelBackend(databaseUrl, pid), close: () => db.destroy() };
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
