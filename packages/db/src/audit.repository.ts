import { sql } from 'kysely';
import type { Database } from './db';

export interface AuditEntry {
  /** the key's id; null for the ADMIN_API_KEY bootstrap key, which has no row */
  apiKeyId: number | null;
  /** the key's name at the time of the write */
  actor: string;
  /** what was done, `noun.verb`: `category.create`, `licenses.batch` */
  action: string;
  /** what it was done to, `kind:key`: `category:food-business` */
  target: string;
  /** the state before and after, as JSON; null or undefined for none. Never personal data. */
  before: unknown;
  after: unknown;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  createdAt: Date;
}

/** JSON text for a jsonb column; undefined and null are SQL null (no state). */
function jsonb(value: unknown) {
  return value === undefined || value === null ? null : sql<never>`cast(${JSON.stringify(value)} as jsonb)`;
}

/**
 * Records one write. Pass the transaction of the write itself, so that the entry and the
 * write are committed together or not at all.
 */
export async function recordAudit(trx: Database, entry: AuditEntry): Promise<void> {
  await trx
    .insertInto('auditLog')
    .values({
      apiKeyId: entry.apiKeyId,
      actor: entry.actor,
      action: entry.action,
      target: entry.target,
      before: jsonb(entry.before),
      after: jsonb(entry.after),
    })
    .execute();
}

/**
 * The audit log, newest first, in id order (stable, unlike time). `afterId` is the last id
 * of the previous page: the page holds the entries with smaller ids.
 */
export function listAudit(
  db: Database,
  page: { afterId?: number; limit: number; action?: string; target?: string },
): Promise<AuditRecord[]> {
  return db
    .selectFrom('auditLog')
    .select(['id', 'apiKeyId', 'actor', 'action', 'target', 'before', 'after', 'createdAt'])
    .$if(page.afterId !== undefined, (q) => q.where('id', '<', page.afterId!))
    .$if(page.action !== undefined, (q) => q.where('action', '=', page.action!))
    .$if(page.target !== undefined, (q) => q.where('target', '=', page.target!))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
}
