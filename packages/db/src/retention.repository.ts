import { sql } from 'kysely';
import type { Database } from './db';

/**
 * Erases the text of up to `limit` messages created before `before`, oldest first: an SMS's
 * body, a push's title and body, as rendered when sent (they name the holder). The message
 * itself stays, with its recipient, status, times and error: the ledger and the figures are
 * made of those. Rows another upkeep is erasing are skipped. Answers how many were erased.
 */
export async function eraseMessageText(db: Database, before: Date, limit: number): Promise<number> {
  const result = await sql`
    update outgoing_messages m set title = null, body = null
      from (select id from outgoing_messages
             where created_at < ${before} and (body is not null or title is not null)
             order by created_at
             limit ${limit}
               for update skip locked) old
     where m.id = old.id`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Deletes up to `limit` in-app inbox messages created before `before`, oldest first: the
 * licensee's copy of a push, whose text is all it holds. Answers how many were deleted.
 */
export async function deleteOldInboxMessages(db: Database, before: Date, limit: number): Promise<number> {
  const result = await sql`
    delete from inbox_messages i
     using (select id from inbox_messages
             where created_at < ${before}
             order by created_at
             limit ${limit}
               for update skip locked) old
     where i.id = old.id`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
