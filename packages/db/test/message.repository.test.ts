import { addDays, type License } from '@lr/domain';
import {
  ageClaim,
  claimMessage,
  eventually,
  freshDatabase,
  markSent,
  storeLicenses,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCategory, updateCategory } from '../src/category.repository';
import type { Database } from '../src/db';
import { cancelUnsentDeliveries, dropDeliveries, type MessageItem } from '../src/delivery.repository';
import {
  cancelMessage,
  claimMessages,
  findMessage,
  markFailed,
  markQueued,
  markSentMany,
  receiptBeforeSend,
  recordReceipt,
  releaseForRetry,
  smsRecipientStates,
} from '../src/message.repository';
import { suppressPhone } from '../src/suppression.repository';
import { createDueReminders, listReminders } from '../src/reminder.repository';
import { startScan } from '../src/scan.repository';

const AS_OF = '2026-03-02';
const CATEGORY = 'food';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await freshDatabase();
  db = database.db;
  await insertCategory(db, testCategory({ code: CATEGORY, leadDays: [10], channels: ['sms'] }));
});

afterAll(async () => {
  await database.drop();
});

let nextLicence = 0;
let nextPhone = 0;

function licence(licenseNo: string, phone: string): License {
  return validLicense(testLicense({ categoryCode: CATEGORY, licenseNo, phone, expiresOn: addDays(AS_OF, 10) }));
}

/**
 * A queued SMS message carrying `reminders` reminders (licences of one holder, one phone),
 * made the way a scan makes it. Each test makes its own licences, so earlier tests' rows
 * are already reminded and stay out of it.
 */
async function queuedMessage(reminders = 1): Promise<{ messageId: number; deliveryIds: number[]; licenseNos: string[] }> {
  const phone = `+86139001390${String(nextPhone++).padStart(2, '0')}`;
  const licenseNos = Array.from({ length: reminders }, () => `M-${nextLicence++}`);
  await storeLicenses(db, licenseNos.map((no) => licence(no, phone)));
  const scanId = await startScan(db, AS_OF, 'command');
  const created = await db
    .transaction()
    .execute((trx) => createDueReminders(trx, scanId, AS_OF, [{ categoryCode: CATEGORY, lead: 10, from: AS_OF, to: addDays(AS_OF, 10) }]));
  expect(created.remindersCreated).toBe(reminders);
  expect(created.messages).toHaveLength(1);
  const messageId = created.messages[0]!.id;
  await markQueued(db, [messageId]);
  const deliveries = await db.selectFrom('deliveries').select('id').where('messageId', '=', messageId).orderBy('id').execute();
  return { messageId, deliveryIds: deliveries.map((d) => d.id), licenseNos };
}

async function deliveryStatuses(deliveryIds: number[]): Promise<string[]> {
  const rows = await db.selectFrom('deliveries').select(['id', 'status']).where('id', 'in', deliveryIds).orderBy('id').execute();
  return rows.map((r) => r.status);
}

/** The ledger of one delivery: [status, cause] in order. */
async function events(deliveryId: number): Promise<[string, string][]> {
  const rows = await db
    .selectFrom('deliveryEvents')
    .select(['status', 'cause'])
    .where('deliveryId', '=', deliveryId)
    .orderBy('id')
    .execute();
  return rows.map((r) => [r.status, r.cause]);
}

const TRANSIENT = { code: 'timeout', message: 'provider timed out' };
/** CLAIM_LEASE_SECONDS */
const LEASE = 60;
const CLAIM = { leaseSeconds: LEASE, maxClaims: 8 };


describe('claiming a message', () => {
  it('a message is claimed once only; the second claim gets nothing and changes nothing', async () => {
    const { messageId, deliveryIds, licenseNos } = await queuedMessage();

    const claimed = await claimMessage(db, messageId, 'worker-a', CLAIM);
    expect(claimed?.message).toMatchObject({ status: 'sending', attempts: 1, lockedBy: 'worker-a' });
    expect(claimed?.message.lockedAt).toBeInstanceOf(Date);
    // The claim brings the reminders the message carries, with what their text needs.
    expect(claimed?.items).toHaveLength(1);
    expect(claimed?.items[0]).toMatchObject({
      deliveryId: deliveryIds[0],
      licenseNo: licenseNos[0],
      stillDue: true,
      expiresOn: addDays(AS_OF, 10),
      daysLeft: 10,
      category: { code: CATEGORY },
    });

    expect(await claimMessage(db, messageId, 'worker-b', CLAIM)).toBeUndefined();
    expect(await claimMessage(db, messageId, 'worker-a', CLAIM)).toBeUndefined();
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'sending', attempts: 1, lockedBy: 'worker-a' });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['sending']);
    expect((await events(deliveryIds[0]!)).filter(([status]) => status === 'sending')).toHaveLength(1);
  });

  it('two workers claiming at the same moment: exactly one gets it', async () => {
    const { messageId } = await queuedMessage();
    const results = await Promise.all([claimMessage(db, messageId, 'worker-a', CLAIM), claimMessage(db, messageId, 'worker-b', CLAIM)]);
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'sending', attempts: 1, lockedBy: winners[0]!.message.lockedBy });
  });

  it('markQueued after a worker took the message leaves it as it is', async () => {
    const { messageId, deliveryIds } = await queuedMessage();
    await claimMessage(db, messageId, 'worker-a', CLAIM);
    expect(await markQueued(db, [messageId])).toEqual([]);
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'sending', lockedBy: 'worker-a' });
    expect(await events(deliveryIds[0]!)).toEqual([
      ['pending', 'scan'],
      ['queued', 'enqueued'],
      ['sending', 'claimed'],
    ]);
  });

  it('a claim older than the lease (its worker died mid-send) is taken over, counted as another attempt; a younger one is not', async () => {
    const { messageId, deliveryIds } = await queuedMessage();
    expect((await claimMessage(db, messageId, 'worker-a', CLAIM))?.takenOverFrom).toBeNull();
    await ageClaim(db, messageId, LEASE - 5);
    expect(await claimMessage(db, messageId, 'worker-b', CLAIM)).toBeUndefined();

    await ageClaim(db, messageId, LEASE + 5);
    const dead = (await findMessage(db, messageId))!.lockedAt!;
    const taken = await claimMessage(db, messageId, 'worker-b', CLAIM);
    expect(taken?.message).toMatchObject({ status: 'sending', attempts: 2, lockedBy: 'worker-b' });
    // The claim says when the dead one was made: a provider is asked what it took since then.
    expect(taken?.takenOverFrom).toEqual(dead);
    expect(taken!.message.lockedAt!.getTime()).toBeGreaterThan(dead.getTime());
    // The dead worker's claim is void: it can no longer record a send.
    expect(await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-old', body: 'x' })).toBeUndefined();
    expect(await markSent(db, messageId, 'worker-b', { providerMessageId: 'SM-new', body: 'x' })).toMatchObject({ status: 'sent' });
    expect((await events(deliveryIds[0]!)).map(([status]) => status)).toEqual(['pending', 'queued', 'sending', 'sending', 'sent']);
  });

  it('a sent message is never taken over, however old its claim', async () => {
    const { messageId } = await queuedMessage();
    await claimMessage(db, messageId, 'worker-a', CLAIM);
    await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-1', body: 'x' });
    await ageClaim(db, messageId, 10 * LEASE);
    expect(await claimMessage(db, messageId, 'worker-b', CLAIM)).toBeUndefined();
  });

  it('a cancelled message cannot be claimed', async () => {
    const { messageId } = await queuedMessage();
    expect(await cancelMessage(db, messageId, 'operator cancelled')).toMatchObject({ status: 'cancelled' });
    expect(await claimMessage(db, messageId, 'worker-a', CLAIM)).toBeUndefined();
    expect((await findMessage(db, messageId))?.status).toBe('cancelled');
  });
});

describe('only the worker holding the claim moves the message on', () => {
  it('markSent by another worker is refused; by the holder it records the send', async () => {
    const { messageId, deliveryIds } = await queuedMessage();
    await claimMessage(db, messageId, 'worker-a', CLAIM);

    expect(await markSent(db, messageId, 'worker-b', { providerMessageId: 'SM-other', body: 'text' })).toBeUndefined();
    expect(await cancelMessage(db, messageId, 'no reminder left to send', 'worker-b')).toBeUndefined();
    const unchanged = await findMessage(db, messageId);
    expect(unchanged).toMatchObject({ status: 'sending', providerMessageId: null, sentAt: null, body: null });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['sending']);

    const sent = await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-held-1', body: 'the text' });
    expect(sent).toMatchObject({ status: 'sent', providerMessageId: 'SM-held-1', body: 'the text', attempts: 1 });
    expect(sent?.sentAt).toBeInstanceOf(Date);
    expect(await deliveryStatuses(deliveryIds)).toEqual(['sent']);

    // Sent is final for the worker: no failure, retry or cancel afterwards.
    expect(await markFailed(db, messageId, 'worker-a', { code: '500', message: 'late' })).toBeUndefined();
    expect(await releaseForRetry(db, messageId, 'worker-a', TRANSIENT)).toBeUndefined();
    expect(await cancelMessage(db, messageId, 'too late')).toBeUndefined();
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'sent', errorCode: null });
  });

  it('markFailed records the provider code; a failed message cannot be claimed again', async () => {
    const { messageId, deliveryIds, licenseNos } = await queuedMessage();
    await claimMessage(db, messageId, 'worker-a', CLAIM);
    expect(await markFailed(db, messageId, 'worker-b', { code: '21211', message: 'invalid number' })).toBeUndefined();

    const failed = await markFailed(db, messageId, 'worker-a', { code: '21211', message: 'invalid number' });
    expect(failed).toMatchObject({ status: 'failed', errorCode: '21211', errorMessage: 'invalid number' });
    expect(await claimMessage(db, messageId, 'worker-b', CLAIM)).toBeUndefined();
    expect(await deliveryStatuses(deliveryIds)).toEqual(['failed']);
    const [reminder] = await listReminders(db, { licenseNo: licenseNos[0]!, limit: 10 });
    expect(reminder?.status).toBe('failed');
    expect(reminder?.deliveries).toMatchObject([{ channel: 'sms', status: 'failed', errorCode: '21211', attempts: 1 }]);
  });
});

describe('many messages in one statement (a worker\'s concurrent jobs)', () => {
  it('claimMessages answers each id asked, in order: a claim with its own items, or nothing for a message not claimable', async () => {
    const one = await queuedMessage(1);
    const two = await queuedMessage(2);
    const sent = await queuedMessage(1);
    await claimMessage(db, sent.messageId, 'worker-x', CLAIM);
    await markSent(db, sent.messageId, 'worker-x', { providerMessageId: 'SM-many-0', body: 'x' });

    const claims = await claimMessages(db, [two.messageId, sent.messageId, one.messageId, two.messageId], 'worker-a', CLAIM);
    expect(claims.map((c) => c?.message.id)).toEqual([two.messageId, undefined, one.messageId, undefined]);
    expect(claims[0]?.items.map((i) => i.licenseNo)).toEqual(two.licenseNos);
    expect(claims[2]?.items.map((i) => i.licenseNo)).toEqual(one.licenseNos);
    // An id asked twice is claimed once: one attempt, one ledger event per delivery.
    expect(await findMessage(db, two.messageId)).toMatchObject({ status: 'sending', attempts: 1, lockedBy: 'worker-a' });
    for (const id of two.deliveryIds) expect((await events(id)).filter(([status]) => status === 'sending')).toHaveLength(1);
    expect(await findMessage(db, sent.messageId)).toMatchObject({ status: 'sent', providerMessageId: 'SM-many-0' });
  });

  it('markSentMany records each message under its own claim, and refuses only the one whose claim was taken over', async () => {
    const a = await queuedMessage(1);
    const b = await queuedMessage(2);
    await claimMessage(db, a.messageId, 'worker-a', CLAIM);
    await claimMessage(db, b.messageId, 'worker-b', CLAIM);

    const recorded = await markSentMany(db, [
      { messageId: a.messageId, lockedBy: 'worker-a', providerMessageId: 'SM-many-a', body: 'text a', segments: 1 },
      { messageId: b.messageId, lockedBy: 'worker-a', providerMessageId: 'SM-many-b', body: 'text b', segments: 2 },
    ], { earlyReceipts: true });
    expect(recorded.map((m) => m?.id)).toEqual([a.messageId, undefined]);
    expect(await findMessage(db, a.messageId)).toMatchObject({ status: 'sent', providerMessageId: 'SM-many-a', body: 'text a', segments: 1 });
    expect(await findMessage(db, b.messageId)).toMatchObject({ status: 'sending', providerMessageId: null, lockedBy: 'worker-b' });

    await markSentMany(db, [{ messageId: b.messageId, lockedBy: 'worker-b', providerMessageId: 'SM-many-b', title: null, body: 'text b', segments: 2 }], { earlyReceipts: true });
    expect(await deliveryStatuses(b.deliveryIds)).toEqual(['sent', 'sent']);
    // Each delivery's ledger event names its own message's provider id.
    const details = await db.selectFrom('deliveryEvents').select(['deliveryId', 'detail']).where('deliveryId', 'in', [...a.deliveryIds, ...b.deliveryIds]).where('status', '=', 'sent').orderBy('deliveryId').execute();
    expect(details.map((e) => e.detail)).toEqual([{ providerMessageId: 'SM-many-a' }, { providerMessageId: 'SM-many-b' }, { providerMessageId: 'SM-many-b' }]);
  });

  it('markSentMany with a stale run and the holder of one message in one statement: only the holder is told it was recorded', async () => {
    const { messageId } = await queuedMessage(1);
    await claimMessage(db, messageId, 'worker-old', CLAIM);
    await ageClaim(db, messageId, LEASE + 1);
    await claimMessage(db, messageId, 'worker-new', CLAIM);
    const recorded = await markSentMany(db, [
      { messageId, lockedBy: 'worker-old', providerMessageId: 'SM-stale-run', body: 'x' },
      { messageId, lockedBy: 'worker-new', providerMessageId: 'SM-holder', body: 'x' },
    ], { earlyReceipts: true });
    expect(recorded.map((m) => m?.providerMessageId)).toEqual([undefined, 'SM-holder']);
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'sent', providerMessageId: 'SM-holder', attempts: 2 });
  });

  it("smsRecipientStates answers each question in order: the phone's SMS since the time given, not counting the message itself, and its suppression", async () => {
    const sent = await queuedMessage(1);
    const sending = await queuedMessage(1);
    const sentPhone = (await findMessage(db, sent.messageId))!.recipient;
    const sendingPhone = (await findMessage(db, sending.messageId))!.recipient;
    await claimMessage(db, sent.messageId, 'worker-a', CLAIM);
    await markSent(db, sent.messageId, 'worker-a', { providerMessageId: 'SM-state-1', body: 'x' });
    await claimMessage(db, sending.messageId, 'worker-a', CLAIM);
    await suppressPhone(db, { phone: sendingPhone, errorCode: '21610', reason: 'STOP', messageId: null });
    const hourAgo = new Date(Date.now() - 3_600_000);

    expect(
      await smsRecipientStates(db, [
        { recipient: sendingPhone, since: hourAgo, messageId: sending.messageId },
        { recipient: sentPhone, since: hourAgo, messageId: 0 },
        { recipient: sendingPhone, since: hourAgo, messageId: 0 },
        { recipient: sentPhone, since: new Date(Date.now() + 3_600_000), messageId: 0 },
        { recipient: sentPhone, since: hourAgo, messageId: sent.messageId },
      ]),
    ).toEqual([
      { sentSince: 0, suppressedFor: '21610' },
      { sentSince: 1, suppressedFor: null },
      { sentSince: 1, suppressedFor: '21610' },
      { sentSince: 0, suppressedFor: null },
      { sentSince: 0, suppressedFor: null },
    ]);
  });
});

describe('retry after a transient error', () => {
  it('releaseForRetry returns the message to queued; it can be claimed again with attempts 2, and the old claim is void', async () => {
    const { messageId, deliveryIds } = await queuedMessage();
    await claimMessage(db, messageId, 'worker-a', CLAIM);

    expect(await releaseForRetry(db, messageId, 'worker-b', TRANSIENT)).toBeUndefined();
    const released = await releaseForRetry(db, messageId, 'worker-a', TRANSIENT);
    expect(released).toMatchObject({ status: 'queued', lockedBy: null, lockedAt: null, errorCode: 'timeout', attempts: 1 });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['queued']);

    const again = await claimMessage(db, messageId, 'worker-b', CLAIM);
    expect(again?.message).toMatchObject({ status: 'sending', attempts: 2, lockedBy: 'worker-b' });
    // Given back, not lost mid-send: nothing to look up at the provider.
    expect(again?.takenOverFrom).toBeNull();

    // The first worker let go: it can no longer finish the message.
    expect(await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-stale', body: 'x' })).toBeUndefined();
    expect(await markSent(db, messageId, 'worker-b', { providerMessageId: 'SM-retry-1', body: 'x' })).toMatchObject({
      status: 'sent',
      attempts: 2,
      errorCode: null,
      errorMessage: null,
    });
  });
});

describe('delivery receipts', () => {
  async function sentMessage(providerMessageId: string) {
    const made = await queuedMessage();
    await claimMessage(db, made.messageId, 'worker-a', CLAIM);
    await markSent(db, made.messageId, 'worker-a', { providerMessageId, body: 'text' });
    return made;
  }

  it('moves sent to delivered; a duplicate or late receipt changes nothing', async () => {
    const { messageId, deliveryIds } = await sentMessage('SM-rcpt-1');

    const delivered = await recordReceipt(db, 'SM-rcpt-1', 'delivered');
    expect(delivered).toMatchObject({ id: messageId, status: 'delivered' });
    expect(delivered?.deliveredAt).toBeInstanceOf(Date);
    expect(await deliveryStatuses(deliveryIds)).toEqual(['delivered']);

    expect(await recordReceipt(db, 'SM-rcpt-1', 'delivered')).toBeUndefined();
    expect(await recordReceipt(db, 'SM-rcpt-1', 'undelivered', { code: '30003', message: 'unreachable' })).toBeUndefined();
    const after = await findMessage(db, messageId);
    expect(after).toMatchObject({ status: 'delivered', errorCode: null });
    expect(after?.deliveredAt?.getTime()).toBe(delivered?.deliveredAt?.getTime());
    expect((await events(deliveryIds[0]!)).filter(([status]) => status !== 'pending' && status !== 'queued')).toEqual([
      ['sending', 'claimed'],
      ['sent', 'provider accepted'],
      ['delivered', 'delivery receipt'],
    ]);
  });

  it('undelivered records the carrier code', async () => {
    const { deliveryIds } = await sentMessage('SM-rcpt-2');
    expect(await recordReceipt(db, 'SM-rcpt-2', 'undelivered', { code: '30005', message: 'unknown destination' })).toMatchObject({
      status: 'undelivered',
      errorCode: '30005',
      deliveredAt: null,
    });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['undelivered']);
  });

  it("a 'delivered' after 'failed' changes nothing", async () => {
    const { messageId, deliveryIds } = await sentMessage('SM-rcpt-3');
    expect(await recordReceipt(db, 'SM-rcpt-3', 'failed', { code: '30008', message: 'unknown error' })).toMatchObject({ status: 'failed' });

    expect(await recordReceipt(db, 'SM-rcpt-3', 'delivered')).toBeUndefined();
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'failed', deliveredAt: null, errorCode: '30008' });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['failed']);
  });

  it('a receipt for a message that was never sent changes nothing', async () => {
    expect(await recordReceipt(db, 'SM-unknown', 'delivered')).toBeUndefined();
  });
});

describe('receipts that come before their send is recorded', () => {
  /** A message a worker ('worker-a') has claimed and is sending: the provider's id is not recorded yet. */
  async function sendingMessage() {
    const made = await queuedMessage();
    const claimed = await claimMessage(db, made.messageId, 'worker-a', CLAIM);
    return { ...made, recipient: claimed!.message.recipient };
  }

  const kept = (providerMessageId: string) =>
    db.selectFrom('earlyReceipts').select(['status', 'errorCode', 'receivedAt']).where('providerMessageId', '=', providerMessageId).execute();

  /** Waits until `count` statements of this database wait for a lock. */
  async function lockWaiters(count: number) {
    await eventually(async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
      return rows[0]!.n >= count ? true : undefined;
    }, 10_000, `${count} statement(s) waiting for a lock`);
  }

  it('is kept while an SMS to its phone is being sent, and applied by the record of the send: sent, then delivered at the receipt’s time', async () => {
    const { messageId, deliveryIds, recipient } = await sendingMessage();
    expect(await receiptBeforeSend(db, { providerMessageId: 'SM-early-1', recipient, receipt: { status: 'delivered' } })).toBe('kept');
    const [receipt] = await kept('SM-early-1');
    expect(receipt).toMatchObject({ status: 'delivered', errorCode: null });

    const recorded = await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-early-1', body: 'text' });
    expect(recorded).toMatchObject({ id: messageId, status: 'delivered', providerMessageId: 'SM-early-1' });
    expect(recorded?.deliveredAt?.getTime()).toBe(receipt!.receivedAt.getTime());
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'delivered', sentAt: expect.any(Date) });
    expect(await deliveryStatuses(deliveryIds)).toEqual(['delivered']);
    expect((await events(deliveryIds[0]!)).slice(2)).toEqual([
      ['sending', 'claimed'],
      ['sent', 'provider accepted'],
      ['delivered', 'delivery receipt'],
    ]);
    expect(await kept('SM-early-1')).toEqual([]);
  });

  it('several receipts kept for one id are applied in the order they came: the first that ends the message wins', async () => {
    const { messageId, recipient } = await sendingMessage();
    const undelivered = { status: 'undelivered' as const, error: { code: '30003', message: 'Twilio error 30003' } };
    expect(await receiptBeforeSend(db, { providerMessageId: 'SM-early-2', recipient, receipt: undelivered })).toBe('kept');
    expect(await receiptBeforeSend(db, { providerMessageId: 'SM-early-2', recipient, receipt: { status: 'delivered' } })).toBe('kept');
    await markSentMany(db, [{ messageId, lockedBy: 'worker-a', providerMessageId: 'SM-early-2', body: 'text' }], { earlyReceipts: true });
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'undelivered', errorCode: '30003', errorMessage: 'Twilio error 30003', deliveredAt: null });
    expect(await kept('SM-early-2')).toEqual([]);
  });

  it('is not kept for a phone no SMS is being sent to; for a recorded id it is applied at once', async () => {
    const { messageId, recipient } = await sendingMessage();
    expect(await receiptBeforeSend(db, { providerMessageId: 'SM-early-3', recipient: '+8613700000000', receipt: { status: 'delivered' } })).toBe('unknown');
    expect(await kept('SM-early-3')).toEqual([]);
    await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-early-3', body: 'text' });
    // recorded between the webhook's first look and its keep: applied, not kept
    expect(await receiptBeforeSend(db, { providerMessageId: 'SM-early-3', recipient, receipt: { status: 'delivered' } })).toBe('recorded');
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'delivered' });
    expect(await kept('SM-early-3')).toEqual([]);
  });

  it('a receipt that comes while the send is being recorded waits for the record, then is applied', async () => {
    const { messageId, recipient } = await sendingMessage();
    // The record takes its lock, then waits for the message's row (held here)…
    const blocker = await database.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select 1 from outgoing_messages where id = $1 for update', [messageId]);
      const recording = markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-early-4', body: 'text' });
      await lockWaiters(1);
      // …and the receipt comes now: it waits for the record's lock rather than being kept.
      const receipt = receiptBeforeSend(db, { providerMessageId: 'SM-early-4', recipient, receipt: { status: 'delivered' } });
      await lockWaiters(2);
      await blocker.query('commit');
      expect(await recording).toMatchObject({ status: 'sent' });
      expect(await receipt).toBe('recorded');
    } finally {
      blocker.release();
    }
    expect(await findMessage(db, messageId)).toMatchObject({ status: 'delivered', providerMessageId: 'SM-early-4' });
    expect(await kept('SM-early-4')).toEqual([]);
  });

  it('a record that comes while a receipt is being kept waits for it, then applies it', async () => {
    const { messageId } = await sendingMessage();
    // A webhook holds the id's lock and has kept the receipt, not committed yet (as receiptBeforeSend does).
    const blocker = await database.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select pg_advisory_xact_lock(7364202, hashtext($1))', ['SM-early-5']);
      await blocker.query(`insert into early_receipts (provider_message_id, status, error_code, error_message) values ($1, 'failed', '30008', 'Twilio error 30008')`, [
        'SM-early-5',
      ]);
      const recording = markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-early-5', body: 'text' });
      await lockWaiters(1);
      await blocker.query('commit');
      expect(await recording).toMatchObject({ status: 'failed', errorCode: '30008' });
    } finally {
      blocker.release();
    }
    expect(await kept('SM-early-5')).toEqual([]);
  });
});

describe('the ledger and the deliveries of a message', () => {
  it('every move writes one event per delivery with its status and cause; refused moves write none', async () => {
    const { messageId, deliveryIds } = await queuedMessage(2);
    await claimMessage(db, messageId, 'worker-a', CLAIM);
    await markSent(db, messageId, 'worker-b', { providerMessageId: 'SM-refused', body: 'x' }); // refused
    await releaseForRetry(db, messageId, 'worker-a', TRANSIENT);
    await claimMessage(db, messageId, 'worker-b', CLAIM);
    await claimMessage(db, messageId, 'worker-c', CLAIM); // refused
    await markSent(db, messageId, 'worker-b', { providerMessageId: 'SM-ledger-1', body: 'x' });
    await recordReceipt(db, 'SM-ledger-1', 'delivered');
    await recordReceipt(db, 'SM-ledger-1', 'delivered'); // duplicate

    const expected = [
      ['pending', 'scan'],
      ['queued', 'enqueued'],
      ['sending', 'claimed'],
      ['queued', 'retry after transient error'],
      ['sending', 'claimed'],
      ['sent', 'provider accepted'],
      ['delivered', 'delivery receipt'],
    ];
    for (const id of deliveryIds) expect(await events(id)).toEqual(expected);

    const retry = await db
      .selectFrom('deliveryEvents')
      .select('detail')
      .where('deliveryId', '=', deliveryIds[0]!)
      .where('status', '=', 'queued')
      .where('cause', '=', 'retry after transient error')
      .executeTakeFirstOrThrow();
    expect(retry.detail).toMatchObject(TRANSIENT);
  });

  it('deliveries follow their message, except one already cancelled on its own', async () => {
    const { messageId, deliveryIds, licenseNos } = await queuedMessage(3);
    const [dropped, kept1, kept2] = deliveryIds as [number, number, number];
    expect(await cancelUnsentDeliveries(db, { deliveryIds: [dropped] }, 'licence renewed')).toBe(1);
    expect((await findMessage(db, messageId))?.status).toBe('queued');

    await claimMessage(db, messageId, 'worker-a', CLAIM);
    await markSent(db, messageId, 'worker-a', { providerMessageId: 'SM-follow-1', body: 'x' });
    await recordReceipt(db, 'SM-follow-1', 'delivered');

    expect(await deliveryStatuses(deliveryIds)).toEqual(['cancelled', 'delivered', 'delivered']);
    expect(await events(dropped)).toEqual([
      ['pending', 'scan'],
      ['queued', 'enqueued'],
      ['cancelled', 'licence renewed'],
    ]);
    expect((await events(kept1)).map(([s]) => s)).toEqual(['pending', 'queued', 'sending', 'sent', 'delivered']);
    expect((await events(kept2)).map(([s]) => s)).toEqual(['pending', 'queued', 'sending', 'sent', 'delivered']);

    const [droppedReminder] = await listReminders(db, { licenseNo: licenseNos[0]!, limit: 10 });
    const [keptReminder] = await listReminders(db, { licenseNo: licenseNos[1]!, limit: 10 });
    expect(droppedReminder?.status).toBe('cancelled');
    expect(keptReminder?.status).toBe('sent');
  });

  it('each claim re-checks its reminders: a licence renewed or revoked mid-send is no longer due, and dropDeliveries takes only those out of the message', async () => {
    const { messageId, deliveryIds } = await queuedMessage(3);
    const first = (await claimMessage(db, messageId, 'worker-a', CLAIM))!;
    expect(first.items.map((i) => i.stillDue)).toEqual([true, true, true]);
    const [renewed, revoked, due] = first.items as [MessageItem, MessageItem, MessageItem];
    const phone = first.message.recipient;
    // Written while the message is being sent: a renewal or revocation cancels only the
    // deliveries not handed to a worker yet, so these stay on the message.
    await storeLicenses(db, [
      validLicense(testLicense({ categoryCode: CATEGORY, licenseNo: renewed.licenseNo, phone, expiresOn: addDays(AS_OF, 375) })),
      validLicense(testLicense({ categoryCode: CATEGORY, licenseNo: revoked.licenseNo, phone, expiresOn: addDays(AS_OF, 10), status: 'revoked' })),
    ]);
    expect(await deliveryStatuses(deliveryIds)).toEqual(['sending', 'sending', 'sending']);
    expect(await releaseForRetry(db, messageId, 'worker-a', TRANSIENT)).toMatchObject({ status: 'queued' });

    const again = (await claimMessage(db, messageId, 'worker-b', CLAIM))!;
    const stillDue = new Map(again.items.map((i) => [i.deliveryId, i.stillDue]));
    expect(stillDue).toEqual(new Map([[renewed.deliveryId, false], [revoked.deliveryId, false], [due.deliveryId, true]]));

    // A run whose claim was taken over drops nothing.
    await dropDeliveries(db, messageId, 'worker-a', [renewed.deliveryId, revoked.deliveryId], 'no longer due');
    expect(await deliveryStatuses(deliveryIds)).toEqual(['sending', 'sending', 'sending']);
    await dropDeliveries(db, messageId, again.message.lockedBy!, [renewed.deliveryId, revoked.deliveryId], 'no longer due');
    // Another message's delivery is not this message's to drop.
    const other = await queuedMessage(1);
    await dropDeliveries(db, messageId, again.message.lockedBy!, other.deliveryIds, 'no longer due');
    expect(await deliveryStatuses(other.deliveryIds)).toEqual(['queued']);

    const statuses = new Map([[renewed.deliveryId, 'cancelled'], [revoked.deliveryId, 'cancelled'], [due.deliveryId, 'sending']]);
    expect(await deliveryStatuses(deliveryIds)).toEqual(deliveryIds.map((id) => statuses.get(id)));
    for (const dropped of [renewed.deliveryId, revoked.deliveryId]) {
      expect((await events(dropped)).slice(-2)).toEqual([
        ['sending', 'claimed'],
        ['cancelled', 'no longer due'],
      ]);
    }
    // The claim goes on with the one still due: sent, its deliveries left cancelled.
    expect(await markSent(db, messageId, again.message.lockedBy!, { providerMessageId: 'SM-drop-1', body: 'x' })).toMatchObject({ status: 'sent' });
    expect(await deliveryStatuses(deliveryIds)).toEqual(deliveryIds.map((id) => (id === due.deliveryId ? 'sent' : 'cancelled')));
  });

  it('a claim finds the reminders of a category disabled mid-send no longer due', async () => {
    const { messageId } = await queuedMessage(1);
    expect((await claimMessage(db, messageId, 'worker-a', CLAIM))!.items.map((i) => i.stillDue)).toEqual([true]);
    await updateCategory(db, CATEGORY, { enabled: false });
    try {
      await releaseForRetry(db, messageId, 'worker-a', TRANSIENT);
      expect((await claimMessage(db, messageId, 'worker-b', CLAIM))!.items.map((i) => i.stillDue)).toEqual([false]);
    } finally {
      await updateCategory(db, CATEGORY, { enabled: true });
    }
  });

  it('a message whose deliveries are all cancelled is cancelled too and cannot be claimed', async () => {
    const { messageId, deliveryIds } = await queuedMessage(2);
    expect(await cancelUnsentDeliveries(db, { deliveryIds }, 'category disabled')).toBe(2);
    expect((await findMessage(db, messageId))?.status).toBe('cancelled');
    expect(await claimMessage(db, messageId, 'worker-a', CLAIM)).toBeUndefined();
  });
});
