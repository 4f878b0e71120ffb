// How `npm start` (scripts/start.ts) fills an empty store with the demo: its categories,
// licences and half a year of history, replayed (replay.ts).
import { insertCategory, recordAudit, upsertLicenses, type Database } from '@lr/db';
import { sql } from 'kysely';
import { demoCategories } from './categories';
import { demoHistory } from './history';
import { replayDemoHistory, validDemoLicense, type HistoryDeps, type HistorySummary } from './replay';

export interface DemoLoad extends HistorySummary {
  categories: number;
  licenses: number;
  seconds: number;
}

/** The tables the demo writes: emptied when a load failed, so that it is loaded anew. */
const DEMO_TABLES = ['categories', 'licenses', 'renewals', 'reminders', 'scans', 'outgoing_messages', 'deliveries', 'delivery_events', 'inbox_messages', 'sms_suppressions'];

/**
 * A load is marked in the audit log when it begins and when it ends. A load that began and
 * never ended was stopped where it could not clean up after itself (Ctrl-C also stops the
 * PostgreSQL that `npm start` runs): the next start empties the store and loads it anew.
 */
const LOAD_BEGINS = 'demo.load.begin';
const LOAD_ENDS = 'demo.load.end';

async function markLoad(db: Database, action: typeof LOAD_BEGINS | typeof LOAD_ENDS, after: unknown): Promise<void> {
  await recordAudit(db, { apiKeyId: null, actor: 'npm start', action, target: 'demo', before: null, after });
}

/** Whether the last load that began did not end. */
async function loadCutOff(db: Database): Promise<boolean> {
  const last = await db
    .selectFrom('auditLog')
    .select('action')
    .where('action', 'in', [LOAD_BEGINS, LOAD_ENDS])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return last?.action === LOAD_BEGINS;
}

async function emptyDemoTables(db: Database): Promise<void> {
  await sql`truncate ${sql.join(DEMO_TABLES.map((t) => sql.table(t)))} restart identity cascade`.execute(db);
}

/**
 * Loads, once, into an empty store: the demo categories, today's licences and half a year of
 * history before `today` (replayDemoHistory), so that the reports have a past to show.
 * Returns null when the store already has categories, unless they are those of a load that
 * was cut off: that one is emptied and loaded anew.
 */
export async function loadDemoData(deps: HistoryDeps, today: string, cycles?: number): Promise<DemoLoad | null> {
  const { db } = deps;
  const startedAt = performance.now();
  const history = demoHistory(today, cycles);
  const storedAt = await db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('categories').select('code').limit(1).execute();
    if (existing.length > 0) {
      if (!(await loadCutOff(trx))) return undefined;
      await emptyDemoTables(trx);
    }
    // The time these rows are written with (the transaction's now()): the history moves them to its first day.
    const { rows } = await sql<{ now: Date }>`select now() as now`.execute(trx);
    const categories = demoCategories();
    for (const category of categories) await insertCategory(trx, category);
    await upsertLicenses(trx, deps.sealer, history.licenses.map(validDemoLicense));
    await markLoad(trx, LOAD_BEGINS, { today });
    return rows[0]!.now;
  });
  if (!storedAt) return null;
  try {
    const summary = await replayDemoHistory(deps, history, today, storedAt);
    await markLoad(db, LOAD_ENDS, summary);
    return {
      categories: demoCategories().length,
      licenses: history.licenses.length,
      ...summary,
      seconds: (performance.now() - startedAt) / 1000,
    };
  } catch (error) {
    await emptyDemoTables(db);
    await markLoad(db, LOAD_ENDS, { emptied: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}
