import { sql } from 'kysely';
import type { Database, DatabaseTransaction } from './db';
import type { Scans } from './schema';

/** What started a scan: the daily cron, POST /v1/scans, or npm run scan (the scans table's column). */
export type ScanTrigger = Scans['trigger'];

// One scan at a time across every scheduler replica and API process. Correctness does
// not rest on it (the unique reminder key does); it keeps scans from racing for rows.
export const SCAN_LOCK = 7_364_201;

/**
 * Runs `work` on one connection of the pool while it holds the scan lock, and lets the lock go
 * after, whatever `work` did: `{ locked: false }`, without running it, when another holds it.
 * The lock is a session's, so it is taken, held and let go on that one connection.
 */
export async function withScanLock<T>(db: Database, work: (conn: Database) => Promise<T>): Promise<{ locked: true; value: T } | { locked: false }> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${SCAN_LOCK}) as locked`.execute(conn);
    if (rows[0]?.locked !== true) return { locked: false };
    try {
      return { locked: true, value: await work(conn) };
    } finally {
      // A connection that broke took its lock with it; nothing is left to let go then.
      await sql`select pg_advisory_unlock(${SCAN_LOCK})`.execute(conn).catch(() => {});
    }
  });
}

/**
 * Sets the scan's transaction up for its statements, which are planned as costly (millions
 * of licences): PostgreSQL would compile them (JIT: over a second, for statements that then
 * run in less) and sort the windows' licences on disk in its default 4 MB.
 */
export async function prepareScanTransaction(trx: DatabaseTransaction): Promise<void> {
  await sql`set local jit = off`.execute(trx);
  await sql`set local work_mem = '64MB'`.execute(trx);
}

export async function startScan(db: Database, asOf: string, trigger: ScanTrigger): Promise<number> {
  const row = await db.insertInto('scans').values({ asOf, trigger }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function finishScan(
  db: Database,
  id: number,
  counts: { remindersCreated: number; skipped: number; messagesQueued: number; undeliverable: number },
) {
  return db
    .updateTable('scans')
    .set({ ...counts, status: 'succeeded', finishedAt: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Scans still 'running' whose process stopped (killed, or cut off from the database) before
 * recording how they ended. Called by a scan holding the scan lock: no other scan can be
 * running then, so every such row is one that will never finish.
 */
export async function abandonInterruptedScans(db: Database): Promise<number[]> {
  const rows = await db
    .updateTable('scans')
    .set({ status: 'failed', error: 'interrupted: the scan stopped before it finished (its process ended or lost the database)', finishedAt: new Date() })
    .where('status', '=', 'running')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Whether a scan for this date has succeeded. */
export async function scanSucceededFor(db: Database, asOf: string): Promise<boolean> {
  const row = await db.selectFrom('scans').select('id').where('asOf', '=', asOf).where('status', '=', 'succeeded').limit(1).executeTakeFirst();
  return row !== undefined;
}

export async function failScan(db: Database, id: number, error: string) {
  await db.updateTable('scans').set({ status: 'failed', error, finishedAt: new Date() }).where('id', '=', id).execute();
}

export function listScans(db: Database, page: { after?: number; limit: number }) {
  return db
    .selectFrom('scans')
    .selectAll()
    .$if(page.after !== undefined, (q) => q.where('id', '<', page.after!))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
}
