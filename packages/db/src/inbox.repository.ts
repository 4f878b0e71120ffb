import type { Database } from './db';

export interface NewInboxMessage {
  messageId: number;
  platformUserId: string;
  title: string;
  body: string;
  url: string;
}

/** Written once per outgoing push, before the gateway is called (idempotent on the message). */
export async function writeInboxMessages(db: Database, messages: NewInboxMessage[]): Promise<void> {
  await db
    .insertInto('inboxMessages')
    .values(messages)
    .onConflict((oc) => oc.column('messageId').doNothing())
    .execute();
}

export function listInbox(db: Database, platformUserId: string, page: { beforeId?: number; limit: number }) {
  return db
    .selectFrom('inboxMessages')
    .select(['id', 'title', 'body', 'url', 'createdAt', 'readAt'])
    .where('platformUserId', '=', platformUserId)
    .$if(page.beforeId !== undefined, (q) => q.where('id', '<', page.beforeId!))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
}

export async function countUnread(db: Database, platformUserId: string): Promise<number> {
  const row = await db
    .selectFrom('inboxMessages')
    .select((eb) => eb.fn.countAll<number>().as('unread'))
    .where('platformUserId', '=', platformUserId)
    .where('readAt', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.unread);
}

/** Marks one of the licensee's own messages read; undefined when it is not theirs. */
export function markInboxRead(db: Database, platformUserId: string, id: number) {
  return db
    .updateTable('inboxMessages')
    .set((eb) => ({ readAt: eb.fn.coalesce('readAt', eb.fn<Date>('now', [])) }))
    .where('id', '=', id)
    .where('platformUserId', '=', platformUserId)
    .returning(['id', 'title', 'body', 'url', 'createdAt', 'readAt'])
    .executeTakeFirst();
}
