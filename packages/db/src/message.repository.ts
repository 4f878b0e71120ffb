import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Database } from './db';
import { deliveriesFollow, messageItemsJson, type MessageItem } from './delivery.repository';
import type { OutgoingMessages } from './schema';
import { UNFINISHED, UNSENT } from './statuses';
import { inTransaction } from './transaction';

export type OutgoingMessage = Selectable<OutgoingMessages>;

/*
 * The state changes of an outgoing message (docs/rules.md: pending -> queued -> sending ->
 * sent -> delivered | undelivered | failed, or cancelled). Each is one statement: it moves the
 * message if its guard holds (its status, and for a message being sent, the claim's token in
 * locked_by), and its deliveries follow it with their ledger rows (deliveriesFollow). A move
 * the guard refuses changes nothing and returns no message. Claims and sends are timed by the
 * database's clock (`now()`), one clock for every worker, which the lease and the daily cap
 * compare; a receipt's delivery time is when the receipt came (recordReceipt's `at`).
 */

/** An error as the ledger's detail. */
function detailOf(error: { code: string; message: string } | undefined) {
  return sql`${error ? JSON.stringify(error) : null}`;
}

/** SQL: the message (`table`, its name or alias) is being sent under a claim older than the lease: its worker stopped. */
function claimOutlived(table: RawBuilder<unknown>, leaseSeconds: number) {
  return sql<boolean>`(${table}.status = 'sending' and ${table}.locked_at < now() - make_interval(secs => ${leaseSeconds}))`;
}

async function firstRow(db: Database, query: RawBuilder<OutgoingMessage>): Promise<OutgoingMessage | undefined> {
  return (await query.execute(db)).rows[0];
}

/** A message a worker has claimed, with the reminders it carries (messageItemsJson). */
export interface ClaimedMessage {
  message: OutgoingMessage;
  items: MessageItem[];
  /**
   * When the claim this one took over was made, if the message was being sent under a claim
   * that outlived its lease (its worker died mid-send); null for a message nobody held.
   */
  takenOverFrom: Date | null;
}

/**
 * A worker takes messages before calling the provider, and gets the reminders each carries.
 * A message sent or cancelled is not claimable, nor one another worker took less than the
 * lease ago; one taken longer ago lost its worker mid-send (killed, cut off from the
 * database), and is taken over to be sent again (README: what a crash may repeat), unless
 * it was claimed `maxClaims` times already (abandonMessage). `lockedBy` is the claim's token:
 * every later move of the message by its worker must show it. Returns, for each id asked,
 * its claim or undefined; an id asked twice is claimed once, for its first asker.
 */
export async function claimMessages(
  db: Database,
  messageIds: number[],
  lockedBy: string,
  lease: { leaseSeconds: number; maxClaims: number },
): Promise<Array<ClaimedMessage | undefined>> {
  // The items come with the claims, in one round trip: a worker needs them next. The
  // statement's other parts see the messages as they were before the claim: a message that
  // was 'sending' had a dead claim, made at its locked_at.
  const result = await sql<OutgoingMessage & { items: MessageItem[]; takenOverFrom: Date | null }>`
    with moved as (
      update outgoing_messages m
         set status = 'sending', updated_at = now(), attempts = attempts + 1, locked_by = ${lockedBy}, locked_at = now()
       where m.id = any(${messageIds}::int[])
         and (m.status = any(${UNSENT}::text[])
              or (${claimOutlived(sql`m`, lease.leaseSeconds)} and m.attempts < ${lease.maxClaims}))
      returning m.*
    ), ${deliveriesFollow('sending', 'claimed', sql`${JSON.stringify({ worker: lockedBy })}`)}
    select m.*, ${messageItemsJson(sql`m.id`)} as items,
           (select o.locked_at from outgoing_messages o where o.id = m.id and o.status = 'sending') as "takenOverFrom"
      from moved m`.execute(db);
  const claimed = new Map(result.rows.map(({ items, takenOverFrom, ...message }) => [message.id, { message, items, takenOverFrom }]));
  return messageIds.map((id) => {
    const claim = claimed.get(id);
    claimed.delete(id);
    return claim;
  });
}

/** After the jobs are on their queue; a message a worker already took stays as it is. */
export async function markQueued(db: Database, messageIds: number[]): Promise<OutgoingMessage[]> {
  const result = await sql<OutgoingMessage>`
    with moved as (
      update outgoing_messages m
         set status = 'queued', updated_at = now()
       where m.id = any(${messageIds}::int[]) and m.status = 'pending'
      returning m.*
    ), ${deliveriesFollow('queued', 'enqueued')}
    select * from moved`.execute(db);
  return result.rows;
}

/**
 * Gives up a message whose claims all outlived their lease: its workers died mid-send
 * `maxClaims` times (a message that kills its worker), so it is not taken over again.
 * Guarded by the lease alone: no worker holds the claim any more.
 */
export function abandonMessage(db: Database, messageId: number, leaseSeconds: number) {
  const error = { code: 'abandoned', message: 'its workers stopped mid-send on every claim; it may or may not have been sent' };
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = 'failed', updated_at = now(), error_code = ${error.code}, error_message = ${error.message}
       where m.id = ${messageId} and ${claimOutlived(sql`m`, leaseSeconds)}
      returning m.*
    ), ${deliveriesFollow('failed', 'abandoned', detailOf(error))}
    select * from moved`);
}

/** What a worker records of a message its provider accepted. */
export interface SentMessage {
  messageId: number;
  /** the claim's token: a message whose claim was taken over is not recorded */
  lockedBy: string;
  providerMessageId: string | null;
  title?: string | null;
  body: string;
  url?: string | null;
  segments?: number | null;
}

/**
 * Records messages as sent, each guarded by its own claim, in one statement. Returns, for
 * each, the message after the move, or undefined when its claim had been taken over.
 *
 * A receipt that came for a provider id before its send was recorded (receiptBeforeSend) is
 * applied in the same transaction: the ids' locks are taken first, so the statement sees every
 * receipt kept before it, and a callback that comes meanwhile waits for the commit and then
 * finds the send recorded. No receipt falls between the two.
 */
export async function markSentMany(
  db: Database,
  sent: SentMessage[],
  /**
   * true for a channel whose receipts may come before the record (SMS): the ids' locks, and the
   * receipts kept for them applied. false for one whose never do (pushes: receiptBeforeSend
   * keeps SMS receipts only): nothing to lock or look for, one statement.
   */
  { earlyReceipts }: { earlyReceipts: boolean },
): Promise<Array<OutgoingMessage | undefined>> {
  const rows = sent.map((s) => ({
    id: s.messageId,
    locked_by: s.lockedBy,
    provider_message_id: s.providerMessageId,
    title: s.title ?? null,
    body: s.body,
    url: s.url ?? null,
    segments: s.segments ?? null,
  }));
  const providerIds = earlyReceipts ? sent.flatMap((s) => (s.providerMessageId === null ? [] : [s.providerMessageId])) : [];
  const record = async (trx: Database) => {
    if (providerIds.length > 0) await lockProviderIds(trx, providerIds);
    const result = await sql<OutgoingMessage & { keptReceipts: KeptReceipt[] }>`
      with moved as (
        update outgoing_messages m
           set status = 'sent', updated_at = now(), sent_at = now(), error_code = null, error_message = null,
               provider_message_id = s.provider_message_id, title = s.title, body = s.body, url = s.url, segments = s.segments
          from json_to_recordset(${JSON.stringify(rows)}::json)
               as s(id int, locked_by text, provider_message_id text, title text, body text, url text, segments int)
         where m.id = s.id and m.status = 'sending' and m.locked_by = s.locked_by
        returning m.*
      ), ${deliveriesFollow('sent', 'provider accepted', sql`jsonb_build_object('providerMessageId', provider_message_id)`)}${
        earlyReceipts
          ? sql`,
      kept as (
        delete from early_receipts k using moved m
         where k.provider_message_id = m.provider_message_id
        returning k.*
      )
      select m.*,
             coalesce((select json_agg(json_build_object('status', k.status, 'errorCode', k.error_code,
                                                         'errorMessage', k.error_message, 'receivedAt', k.received_at)
                                       order by k.received_at)
                         from kept k where k.provider_message_id = m.provider_message_id), '[]') as "keptReceipts"
        from moved m`
          : sql`
      select m.*, '[]'::json as "keptReceipts" from moved m`
      }`.execute(trx);
    const messages: OutgoingMessage[] = [];
    for (const { keptReceipts, ...message } of result.rows) {
      let now: OutgoingMessage = message;
      // Rare: a receipt came before the record. Applied in arrival order; the first final one wins.
      for (const receipt of keptReceipts) {
        const error = receipt.errorCode === null ? undefined : { code: receipt.errorCode, message: receipt.errorMessage ?? receipt.errorCode };
        now = (await recordReceipt(trx, message.providerMessageId!, receipt.status, error, new Date(receipt.receivedAt))) ?? now;
      }
      messages.push(now);
    }
    return messages;
  };
  const recorded = providerIds.length > 0 ? await inTransaction(db, record) : await record(db);
  // By message and claim: a stale run of a job may share a batch with the run that took its
  // message over, and only the holder's send was recorded.
  const byClaim = new Map(recorded.map((message) => [`${message.id}/${message.lockedBy}`, message]));
  return sent.map((s) => byClaim.get(`${s.messageId}/${s.lockedBy}`));
}

/** The provider refused the message for good, or on its last attempt: it fails. */
export function markFailed(db: Database, messageId: number, lockedBy: string, error: { code: string; message: string }) {
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = 'failed', updated_at = now(), error_code = ${error.code}, error_message = ${error.message}
       where m.id = ${messageId} and m.status = 'sending' and m.locked_by = ${lockedBy}
      returning m.*
    ), ${deliveriesFollow('failed', 'provider refused', detailOf(error))}
    select * from moved`);
}

/** A transient error: the claim is given back so that the retry can take it again. */
export function releaseForRetry(db: Database, messageId: number, lockedBy: string, error: { code: string; message: string }) {
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = 'queued', updated_at = now(), error_code = ${error.code}, error_message = ${error.message},
             locked_by = null, locked_at = null
       where m.id = ${messageId} and m.status = 'sending' and m.locked_by = ${lockedBy}
      returning m.*
    ), ${deliveriesFollow('queued', 'retry after transient error', detailOf(error))}
    select * from moved`);
}

/**
 * The worker holds a message back (the recipient's daily cap; a provider's limit, or its
 * account unable to send, with the provider's `error`): it goes back to the queue, and its
 * claim does not count as an attempt. Held without an error, it keeps the one it had.
 */
export function deferMessage(db: Database, messageId: number, lockedBy: string, reason: string, error?: { code: string; message: string }) {
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = 'queued', updated_at = now(), attempts = attempts - 1, locked_by = null, locked_at = null,
             error_code = coalesce(${error?.code ?? null}, error_code), error_message = coalesce(${error?.message ?? null}, error_message)
       where m.id = ${messageId} and m.status = 'sending' and m.locked_by = ${lockedBy}
      returning m.*
    ), ${deliveriesFollow('queued', `deferred: ${reason}`, detailOf(error))}
    select * from moved`);
}

/** The SMS a message would send: to whom, and since when its phone's day began. */
export interface SmsRecipientQuestion {
  recipient: string;
  since: Date;
  messageId: number;
}

/** Whether a phone may have an SMS now: what smsRecipientStates answers for one message. */
export interface SmsRecipientState {
  sentSince: number;
  /** the provider's opt-out code the phone was suppressed for, or null when it is not suppressed */
  suppressedFor: string | null;
}

/**
 * What decides whether each message's phone may have an SMS now, in one round trip: the
 * SMS the phone has had since `since`, counting those being sent now but not the message
 * itself (so that two workers racing for one phone hold back rather than both send), and
 * its suppression, if it has one. One answer per question, in order.
 */
export async function smsRecipientStates(
  db: Database,
  questions: SmsRecipientQuestion[],
): Promise<SmsRecipientState[]> {
  const rows = questions.map((q, i) => ({ i, recipient: q.recipient, since: q.since.toISOString(), message_id: q.messageId }));
  const result = await sql<SmsRecipientState & { i: number }>`
    select q.i,
           (select count(*)::int from outgoing_messages m
             where m.channel = 'sms' and m.recipient = q.recipient and m.id <> q.message_id
               and (m.sent_at >= q.since or (m.status = 'sending' and m.locked_at >= q.since))) as "sentSince",
           (select s.error_code from sms_suppressions s where s.phone = q.recipient) as "suppressedFor"
      from json_to_recordset(${JSON.stringify(rows)}::json) as q(i int, recipient text, since timestamptz, message_id int)`.execute(db);
  const answers: SmsRecipientState[] = [];
  for (const { i, sentSince, suppressedFor } of result.rows) answers[i] = { sentSince, suppressedFor };
  return answers;
}

/**
 * Cancels a message not yet sent: whoever holds it, or, given the claim's `lockedBy`, only
 * while that claim holds it (its worker's cancel when no reminder it carries is still due).
 */
export function cancelMessage(db: Database, messageId: number, cause: string, lockedBy?: string) {
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = 'cancelled', updated_at = now()
       where m.id = ${messageId} and m.status = any(${UNFINISHED}::text[])
         ${lockedBy === undefined ? sql`` : sql`and m.locked_by = ${lockedBy}`}
      returning m.*
    ), ${deliveriesFollow('cancelled', cause)}
    select * from moved`);
}

/** How a provider's receipt ends a sent message. */
export type ReceiptStatus = 'delivered' | 'undelivered' | 'failed';

/**
 * Status callbacks move a sent message forward only: a late 'sent' after 'delivered' changes
 * nothing. `at`: when the receipt came (a kept one), now by default.
 */
export function recordReceipt(
  db: Database,
  providerMessageId: string,
  to: ReceiptStatus,
  error?: { code: string; message: string },
  at: Date = new Date(),
) {
  // A sent message has neither a delivery time nor an error (markSentMany clears it): a
  // delivery writes the one, a failure the other.
  const deliveredAt = to === 'delivered' ? at : null;
  const failure = to === 'delivered' ? undefined : error;
  return firstRow(db, sql`
    with moved as (
      update outgoing_messages m
         set status = ${to}, updated_at = now(), delivered_at = ${deliveredAt},
             error_code = ${failure?.code ?? null}, error_message = ${failure?.message ?? null}
       where m.provider_message_id = ${providerMessageId} and m.status = 'sent'
      returning m.*
    ), ${deliveriesFollow(to, 'delivery receipt', detailOf(error))}
    select * from moved`);
}

/** A receipt kept in early_receipts, as markSentMany finds it (JSON). */
interface KeptReceipt {
  status: ReceiptStatus;
  errorCode: string | null;
  errorMessage: string | null;
  receivedAt: string;
}

/** How long a receipt waits in early_receipts for its send to be recorded. */
const KEPT_RECEIPT_HOURS = 24;

/**
 * The advisory locks (class RECEIPT_LOCK, key: the id's hash) that a send's record and a
 * receipt that came before it take in turn, in one order (hash order), until the transaction ends.
 */
const RECEIPT_LOCK = 7_364_202;

async function lockProviderIds(db: Database, providerIds: string[]): Promise<void> {
  await sql`
    select pg_advisory_xact_lock(${RECEIPT_LOCK}, h)
      from (select distinct hashtext(id) as h from unnest(${providerIds}::text[]) as id order by h) ids`.execute(db);
}

/**
 * A provider's status callback for an id that no message carried when it came: the provider
 * may call before the worker has recorded the send (the record is shared by the sends of a
 * fraction of a second, and retried for seconds while the database fails). Answers
 * - 'recorded': the send was recorded meanwhile; the receipt (if any) was applied to it;
 * - 'kept': an SMS to `recipient` is being sent, so the id may be its: the receipt is kept
 *   (early_receipts, a day at most) and applied when the send is recorded (markSentMany);
 * - 'unknown': no SMS is being sent to `recipient`: the id is none of ours, nothing is kept.
 * `receipt` is null for a status that ends nothing ('queued', 'sent'…): nothing to keep.
 */
export async function receiptBeforeSend(
  db: Database,
  callback: { providerMessageId: string; recipient: string; receipt: Receipt },
): Promise<'recorded' | 'kept' | 'unknown'> {
  const { providerMessageId, recipient, receipt } = callback;
  return inTransaction(db, async (trx) => {
    await lockProviderIds(trx, [providerMessageId]);
    if (await findMessageByProviderId(trx, providerMessageId)) {
      if (receipt) await recordReceipt(trx, providerMessageId, receipt.status, receipt.error);
      return 'recorded';
    }
    const keep = receipt
      ? sql`, expired as (
          delete from early_receipts where received_at < now() - make_interval(hours => ${KEPT_RECEIPT_HOURS})
        ), kept as (
          insert into early_receipts (provider_message_id, status, error_code, error_message)
          select ${providerMessageId}, ${receipt.status}, ${receipt.error?.code ?? null}, ${receipt.error?.message ?? null} from in_flight
          on conflict do nothing
        )`
      : sql``;
    const { rows } = await sql<{ inFlight: boolean }>`
      with in_flight as (
        select 1 from outgoing_messages
         where channel = 'sms' and recipient = ${recipient} and status = 'sending'
         limit 1
      )${keep}
      select exists (select 1 from in_flight) as "inFlight"`.execute(trx);
    return rows[0]!.inFlight ? 'kept' : 'unknown';
  });
}

/**
 * The first of `providerMessageIds` a message carries: the first is the provider's own id; the
 * others, ids a send may be recorded under when the provider gave none (Alibaba Cloud's
 * `outid:<message id>`), match only a message to `phone`, the receipt's, for a provider's
 * receipts may name an id of ours that another system sharing the account also uses.
 */
async function recordedUnderAny(db: Database, providerMessageIds: string[], phone: string | null): Promise<string | undefined> {
  if (providerMessageIds.length === 0) return undefined;
  const carried = await db
    .selectFrom('outgoingMessages')
    .select(['providerMessageId', 'recipient'])
    .where('providerMessageId', 'in', providerMessageIds)
    .execute();
  return providerMessageIds.find((id, i) => carried.some((m) => m.providerMessageId === id && (i === 0 || m.recipient === phone)));
}

/** A provider's receipt: how it ends the message, or null for a status that ends nothing ('queued', 'sent'…). */
export type Receipt = { status: ReceiptStatus; error?: { code: string; message: string } } | null;

/**
 * A provider's receipt, whichever provider: applied to the message recorded under one of
 * `providerMessageIds` (recordedUnderAny: forward only, 'unchanged' when it moves nothing),
 * or, when no send is recorded under them yet, kept under the provider's own id for the SMS
 * being sent to the receipt's phone (receiptBeforeSend: 'kept', or 'applied' when the send
 * was recorded meanwhile); 'unknown' when no SMS is being sent to it. `recipient` (the receipt's phone, or
 * its message's) is asked once, and its query made only when the receipt names no phone.
 */
export async function applyReceipt(
  db: Database,
  { providerMessageIds, receipt, recipient }: { providerMessageIds: string[]; receipt: Receipt; recipient: () => Promise<string | null> },
): Promise<'applied' | 'unchanged' | 'kept' | 'unknown'> {
  if (providerMessageIds.length === 0) return 'unknown';
  let phone: string | null | undefined;
  const phoneOnce = async () => (phone === undefined ? (phone = await recipient()) : phone);
  // The provider's own id needs no phone; another id is checked against it.
  const recorded = await recordedUnderAny(db, providerMessageIds, providerMessageIds.length > 1 ? await phoneOnce() : null);
  if (recorded !== undefined) {
    if (!receipt) return 'unchanged';
    return (await recordReceipt(db, recorded, receipt.status, receipt.error)) ? 'applied' : 'unchanged';
  }
  const to = await phoneOnce();
  if (to === null) return 'unknown';
  const early = await receiptBeforeSend(db, { providerMessageId: providerMessageIds[0]!, recipient: to, receipt });
  return early === 'recorded' ? 'applied' : early;
}

/**
 * Messages not yet handed to a worker, and those whose worker stopped mid-send (claimed
 * more than `leaseSeconds` ago), in id order from `afterId`: what the sweeper compares
 * with the queues.
 */
export function unsentMessages(db: Database, afterId: number, limit: number, leaseSeconds: number) {
  return db
    .selectFrom('outgoingMessages')
    .select(['id', 'channel'])
    .where((eb) => eb.or([eb('status', 'in', UNSENT), claimOutlived(sql`outgoing_messages`, leaseSeconds)]))
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export function findMessage(db: Database, messageId: number) {
  return db.selectFrom('outgoingMessages').selectAll().where('id', '=', messageId).executeTakeFirst();
}

function findMessageByProviderId(db: Database, providerMessageId: string) {
  return db.selectFrom('outgoingMessages').selectAll().where('providerMessageId', '=', providerMessageId).executeTakeFirst();
}

/** Where a pass over the SMS awaiting a receipt got to: the last one read, in (sent_at, id) order. */
export interface AwaitingReceiptKey {
  /** its sent_at as PostgreSQL writes it (microseconds, which a Date would round off) */
  sentAt: string;
  id: number;
}

/**
 * SMS sent between `minAgeMinutes` and `maxAgeMinutes` ago whose receipt has not come (still
 * `sent`), in (sent_at, id) order after `after`: what the reconciliation looks up at the
 * provider. Read from an index of such SMS by send time (0017): a receipt takes a message
 * out of it, and those that never get one, older than the window, are not read.
 */
export function awaitingReceipt(
  db: Database,
  { minAgeMinutes, maxAgeMinutes, after, limit }: { minAgeMinutes: number; maxAgeMinutes: number; after: AwaitingReceiptKey | null; limit: number },
) {
  let query = db
    .selectFrom('outgoingMessages')
    .select(['id', 'recipient', 'providerMessageId', 'sentAt', sql<string>`sent_at::text`.as('sentAtKey')])
    .where('channel', '=', 'sms')
    .where('status', '=', 'sent')
    .where('providerMessageId', 'is not', null)
    .where('sentAt', '<', sql<Date>`now() - make_interval(mins => ${minAgeMinutes})`)
    .where('sentAt', '>', sql<Date>`now() - make_interval(mins => ${maxAgeMinutes})`);
  if (after) query = query.where(sql<boolean>`(sent_at, id) > (${after.sentAt}::timestamptz, ${after.id})`);
  return query.orderBy('sentAt').orderBy('id').limit(limit).execute();
}
