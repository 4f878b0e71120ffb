import type { Selectable } from 'kysely';
import type { Database } from './db';
import type { SmsSuppressions } from './schema';

export type SmsSuppression = Selectable<SmsSuppressions>;

/** No more SMS to this phone until an operator clears it; the first reason is kept. */
export async function suppressPhone(
  db: Database,
  suppression: { phone: string; errorCode: string; reason: string; messageId: number | null },
): Promise<void> {
  await db
    .insertInto('smsSuppressions')
    .values(suppression)
    .onConflict((oc) => oc.column('phone').doNothing())
    .execute();
}

export function findSuppression(db: Database, phone: string): Promise<SmsSuppression | undefined> {
  return db.selectFrom('smsSuppressions').selectAll().where('phone', '=', phone).executeTakeFirst();
}

/** Clears a phone's suppression; the one removed, or undefined when the phone had none. */
export function clearSuppression(db: Database, phone: string): Promise<SmsSuppression | undefined> {
  return db.deleteFrom('smsSuppressions').where('phone', '=', phone).returningAll().executeTakeFirst();
}
