import type { Database, DatabaseTransaction } from './db';

/** PostgreSQL rolled the transaction back whole: a deadlock, a serialization failure. */
const RUN_AGAIN = new Set(['40P01', '40001']);
const MOST_RUNS = 3;

/**
 * Runs `work` in a transaction, and again (three runs at most) when PostgreSQL rolled it
 * back for a deadlock. Writes that cancel deliveries (renewals, revocations, a category
 * disabled) lock deliveries, then their messages; the workers' moves lock messages, then
 * their deliveries, so the two can deadlock, and PostgreSQL then stops one of them. `work`
 * must do nothing outside the transaction that it cannot do twice.
 */
export async function inTransaction<T>(db: Database, work: (trx: DatabaseTransaction) => Promise<T>): Promise<T> {
  for (let run = 1; ; run++) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (run >= MOST_RUNS || typeof code !== 'string' || !RUN_AGAIN.has(code)) throw error;
    }
  }
}
