import type { Category } from '@lr/domain';
import type { Database } from './db';

const COLUMNS = [
  'code',
  'name',
  'leadDays',
  'channels',
  'smsTemplate',
  'pushTitle',
  'pushBody',
  'renewalUrl',
  'consultPhone',
  'enabled',
  'aliyunTemplateCode',
  'aliyunTemplateParams',
  'createdAt',
  'updatedAt',
] as const;

export type StoredCategory = Category & { createdAt: Date; updatedAt: Date };

/** Lead days are kept distinct and in descending order: [60, 30, 10]. */
function sortedLeads(leadDays: number[]): number[] {
  return [...new Set(leadDays)].sort((a, b) => b - a);
}

/** Categories in the order of their codes, from after `afterCode` on. */
export function listCategories(db: Database, { afterCode, limit }: { afterCode?: string; limit: number }): Promise<StoredCategory[]> {
  return db
    .selectFrom('categories')
    .select(COLUMNS)
    .$if(afterCode !== undefined, (q) => q.where('code', '>', afterCode!))
    .orderBy('code')
    .limit(limit)
    .execute();
}

/**
 * The categories as a scan sees them, locked until the scan commits: a category being
 * disabled or changed waits for the scan (and cancels what it created), or the scan
 * waits for the change.
 */
export function categoriesForScan(trx: Database): Promise<StoredCategory[]> {
  return trx.selectFrom('categories').select(COLUMNS).orderBy('code').forShare().execute();
}

export function findCategory(db: Database, code: string): Promise<StoredCategory | undefined> {
  return db.selectFrom('categories').select(COLUMNS).where('code', '=', code).executeTakeFirst();
}

/** Each category's lead days, longest first, by category code. */
export async function leadDaysByCategory(db: Database): Promise<Map<string, number[]>> {
  const rows = await db.selectFrom('categories').select(['code', 'leadDays']).execute();
  return new Map(rows.map((r) => [r.code, sortedLeads(r.leadDays)]));
}

/** The category, locked until the transaction ends: the state an update starts from (for its audit entry). */
export function findCategoryForUpdate(trx: Database, code: string): Promise<StoredCategory | undefined> {
  return trx.selectFrom('categories').select(COLUMNS).where('code', '=', code).forUpdate().executeTakeFirst();
}

/** Inserts a category; undefined when the code is taken. */
export function insertCategory(db: Database, category: Category): Promise<StoredCategory | undefined> {
  return db
    .insertInto('categories')
    .values({ ...category, leadDays: sortedLeads(category.leadDays) })
    .onConflict((oc) => oc.column('code').doNothing())
    .returning(COLUMNS)
    .executeTakeFirst();
}

/**
 * Changes a category. Run inside a transaction. What a change means (disabling it cancels
 * its unsent deliveries) is the category service's to apply, in the same transaction
 * (services/api/src/services/categories.ts), the one writer that changes a category. A
 * licence's write applies its consequences itself (license.repository), as it has several
 * writers (the API, the demo, the tests' fixtures, the benches) that must all get them.
 */
export async function updateCategory(
  trx: Database,
  code: string,
  changes: Partial<Omit<Category, 'code'>>,
): Promise<StoredCategory | undefined> {
  const updated = await trx
    .updateTable('categories')
    .set({ ...changes, ...(changes.leadDays && { leadDays: sortedLeads(changes.leadDays) }), updatedAt: new Date() })
    .where('code', '=', code)
    .returning(COLUMNS)
    .executeTakeFirst();
  return updated;
}
