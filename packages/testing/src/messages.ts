import { claimMessages, markFailed, markSentMany, recordReceipt, type Database, type SentMessage } from '@lr/db';
import type { License } from '@lr/domain';
import type { MessageQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import { sql } from 'kysely';
import { FOLLOW_UP_DAYS, storeLicenses } from './fixtures';

/**
 * Stores `licences` and runs the scan for `asOf`, as a worker's tests set their messages up:
 * the messages that scan made, in id order.
 */
export async function scanMessages(store: { db: Database; queues: MessageQueues }, licences: License[], asOf: string) {
  await storeLicenses(store.db, licences);
  const scan = await runScan(
    { db: store.db, queues: store.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS },
    { asOf, trigger: 'command' },
  );
  return store.db.selectFrom('outgoingMessages').select(['id', 'channel', 'recipient']).where('scanId', '=', scan.id).orderBy('id').execute();
}

/** claimMessages for one message, as a worker's lone job claims it: its claim, or undefined. */
export async function claimMessage(db: Database, messageId: number, lockedBy: string, lease: { leaseSeconds: number; maxClaims: number }) {
  return (await claimMessages(db, [messageId], lockedBy, lease))[0];
}

/**
 * markSentMany for one message, under the claim `lockedBy`, as the SMS worker records it (receipts
 * kept before are applied): the message sent, or undefined when the claim is not its own.
 */
export async function markSent(db: Database, messageId: number, lockedBy: string, sent: Omit<SentMessage, 'messageId' | 'lockedBy'>) {
  return (await markSentMany(db, [{ messageId, lockedBy, ...sent }], { earlyReceipts: true }))[0];
}

/** Moves a message's claim back in time, as if its worker had taken it `seconds` ago. */
export async function ageClaim(db: Database, messageId: number, seconds: number): Promise<void> {
  await sql`update outgoing_messages set locked_at = now() - make_interval(secs => ${seconds}) where id = ${messageId}`.execute(db);
}

/**
 * Makes the database refuse the first `times` moves to 'sent' (of one message, or of any),
 * as a restart would just after the provider took the message. A sequence counts the tries:
 * unlike the refused updates, it is not rolled back.
 */
export async function failSentRecords(db: Database, { times, messageId }: { times: number; messageId?: number }) {
  const which = messageId === undefined ? '' : `new.id = ${Math.trunc(messageId)} and `;
  await sql`create sequence sent_record_tries`.execute(db);
  await sql
    .raw(
      `create function fail_sent_record() returns trigger language plpgsql as $$
         begin
           if ${which}new.status = 'sent' and nextval('sent_record_tries') <= ${Math.trunc(times)} then
             raise exception 'the database refused the record (test)';
           end if;
           return new;
         end $$`,
    )
    .execute(db);
  await sql`create trigger fail_sent_record before update on outgoing_messages for each row execute function fail_sent_record()`.execute(db);
  return {
    /** the moves to 'sent' tried so far, refused or not */
    async tries(): Promise<number> {
      const { rows } = await sql<{ n: unknown; called: boolean }>`select last_value as n, is_called as called from sent_record_tries`.execute(db);
      return rows[0]!.called ? Number(rows[0]!.n) : 0;
    },
    async remove(): Promise<void> {
      await sql`drop trigger fail_sent_record on outgoing_messages; drop function fail_sent_record(); drop sequence sent_record_tries`.execute(db);
    },
  };
}

/** How a test's message ends: recorded as its worker and a provider's receipt would record it. */
export type MessageEnd = 'sent' | 'delivered' | 'undelivered' | 'failed';

/**
 * Takes a queued message through the real state machine, as a worker and its provider would:
 * claimed, then failed with a provider's code, or sent and, for `delivered`/`undelivered`,
 * given its receipt. Its deliveries follow it. Returns the provider id it was sent under.
 */
export async function finishMessage(db: Database, messageId: number, end: MessageEnd): Promise<string> {
  const claimed = await claimMessage(db, messageId, 'test-worker', { leaseSeconds: 120, maxClaims: 8 });
  if (!claimed) throw new Error(`message ${messageId} is not claimable`);
  const lockedBy = claimed.message.lockedBy!;
  const providerMessageId = `SM-test-${messageId}`;
  if (end === 'failed') {
    await markFailed(db, messageId, lockedBy, { code: '21211', message: 'invalid number (test)' });
    return providerMessageId;
  }
  await markSent(db, messageId, lockedBy, { providerMessageId, body: 'test message' });
  if (end !== 'sent') await recordReceipt(db, providerMessageId, end, end === 'undelivered' ? { code: '30003', message: 'unreachable (test)' } : undefined);
  return providerMessageId;
}
