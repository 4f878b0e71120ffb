import type { Database } from './db';

/** What started a scan: the daily cron, POST /v1/scans, or npm run scan. */
export type ScanTrigger = 'cron' | 'api' | 'command';

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
