import { insertCategory, upsertLicenses } from '@lr/db';
import { demoCategories, demoHistory } from '@lr/domain';
import { sql } from 'kysely';
import { replayDemoHistory, validDemoLicense, type HistoryDeps, type HistorySummary } from './demo-history';

export interface DemoLoad extends HistorySummary {
  categories: number;
  licenses: number;
  seconds: number;
}

/** The tables the demo writes: emptied again when the load fails, so that the next start loads it anew. */
const DEMO_TABLES = ['categories', 'licenses', 'renewals', 'reminders', 'scans', 'outgoing_messages', 'deliveries', 'delivery_events', 'inbox_messages', 'sms_suppressions'];

/**
 * Loads, once, into an empty store: the demo categories, today's licences and half a year of
 * history before `today` (replayDemoHistory), so that the reports have a past to show.
 * Returns null when the store already has categories.
 */
export async function loadDemoData(deps: HistoryDeps, today: string, cycles?: number): Promise<DemoLoad | null> {
  const { db } = deps;
  const startedAt = performance.now();
  const history = demoHistory(today, cycles);
  const storedAt = await db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('categories').select('code').limit(1).execute();
    if (existing.length > 0) return undefined;
    // The time these rows are written with (the transaction's now()): the history moves them to its first day.
    const { rows } = await sql<{ now: Date }>`select now() as now`.execute(trx);
    const categories = demoCategories();
    for (const category of categories) await insertCategory(trx, category);
    await upsertLicenses(trx, deps.sealer, history.licenses.map(validDemoLicense));
    return rows[0]!.now;
  });
  if (!storedAt) return null;
  try {
    const summary = await replayDemoHistory(deps, history, today, storedAt);
    return {
      categories: demoCategories().length,
      licenses: history.licenses.length,
      ...summary,
      seconds: (performance.now() - startedAt) / 1000,
    };
  } catch (error) {
    await sql`truncate ${sql.join(DEMO_TABLES.map((t) => sql.table(t)))} restart identity cascade`.execute(db);
    throw error;
  }
}
