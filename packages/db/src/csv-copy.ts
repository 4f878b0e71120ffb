import { CompiledQuery, sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';
import type { Writable } from 'node:stream';
import type { CancelBackend, Database } from './db';

/** to_char's ISO 8601 instant with the session's offset (copyCsv sets the time zone): the CSVs' timestamps. */
export const ISO_INSTANT = 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM';

export interface CsvCopySettings {
  /** REMINDER_TIMEZONE: timestamps the query formats with `TZH:TZM` carry its offset */
  timezone: string;
  /** the database handle's: stops the COPY of a destination that closed */
  cancelBackend: CancelBackend;
}

/**
 * The statement that writes the rows of `query` as CSV: `COPY (…) TO STDOUT`, quoted by
 * PostgreSQL. COPY takes no bind parameters, so the query's are written into it as literals
 * (pg's escapeLiteral); the queries given here hold no `$n` of their own outside parameters.
 */
export function csvCopyStatement(db: Database, query: RawBuilder<unknown>): string {
  const { sql: text, parameters } = query.compile(db);
  const inlined = text.replace(/\$(\d+)/g, (_, n: string) => literal(parameters[Number(n) - 1]));
  return `copy (${inlined}) to stdout with (format csv)`;
}

function literal(value: unknown): string {
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  // An empty array needs the cast the query gives it (`${[]}::text[]`), as a parameter does.
  if (Array.isArray(value)) return `array[${value.map(literal).join(', ')}]`;
  throw new Error(`a CSV copy cannot take a parameter of type ${typeof value}`);
}

/**
 * Writes the rows of `query` into `to` as CSV (no header), as PostgreSQL streams them, in
 * bounded memory: `to`'s back-pressure holds PostgreSQL back. Runs in a read-only
 * transaction whose time zone is `settings.timezone`, whose dates are ISO, without JIT. Resolves
 * `true` once every row is written (`to` is left open for the caller to end), `false` when
 * `to` closed first (a client that went away: the COPY is cancelled and what is still on the
 * wire is read and dropped, so the connection goes back to the pool clean). Rejects when
 * PostgreSQL fails midway: what `to` got is then incomplete, and the caller must say so.
 */
export async function copyCsv(db: Database, query: RawBuilder<unknown>, to: Writable, settings: CsvCopySettings): Promise<boolean> {
  const statement = csvCopyStatement(db, query);
  return db
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      // No JIT: a report's COPY is big enough for the planner to ask for it, and compiling
      // took 2 of the ledger's 6 s on a million reminders, before the first row. No
      // statement time-out: the COPY runs as long as its client takes to read it, and one
      // that goes away cancels it (forward below).
      const { rows } = await sql<{ pid: number }>`
        select pg_backend_pid() as pid, set_config('TimeZone', ${settings.timezone}, true),
               set_config('DateStyle', 'ISO, YMD', true), set_config('jit', 'off', true),
               set_config('statement_timeout', '0', true)`.execute(trx);
      const copy = copyTo(statement);
      await trx.executeQuery(submitted(copy));
      return forward(copy, to, () => settings.cancelBackend(rows[0]!.pid));
    });
}

/**
 * Kysely hands a query's text to pg's `client.query`, which runs any object with a `submit`
 * method in its place and returns that object at once: this is how the copy stream gets the
 * transaction's own connection. The rows come through the stream, not the result.
 */
function submitted(copy: CopyToStreamQuery): CompiledQuery {
  return { ...CompiledQuery.raw(''), sql: copy as unknown as string };
}

/**
 * Pipes the COPY into `to`. When `to` closes first, the COPY is cancelled (by its backend's
 * pid, on another connection). The cancel is only asked while the COPY runs, and awaited
 * before the transaction ends: a backend idle in its transaction ignores a cancel, so it
 * cannot hit the next user of the connection.
 */
function forward(copy: CopyToStreamQuery, to: Writable, cancel: () => Promise<void>): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let abandoned: Promise<void> | undefined;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      to.off('close', abandon).off('error', abandon);
      // After an abandonment, the cancel must have been asked before the connection is given back.
      void (abandoned ?? Promise.resolve()).then(outcome);
    };
    const abandon = () => {
      if (abandoned || settled) return;
      copy.unpipe(to);
      abandoned = cancel().catch(() => undefined);
      // PostgreSQL acts on the cancel only once it can write again: read on, dropping the rows.
      copy.resume();
    };
    copy.on('end', () => finish(() => resolve(abandoned === undefined)));
    copy.on('error', (error) => finish(() => (abandoned ? resolve(false) : reject(error))));
    to.on('close', abandon).on('error', abandon);
    if (to.destroyed) abandon();
    else copy.pipe(to, { end: false });
  });
}
