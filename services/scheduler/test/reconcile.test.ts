// The reconciliation of SMS left without a receipt, against the fake Alibaba Cloud at the HTTP
// level (the SDK's real signing and parsing run) and a real database.
import { findMessage, insertCategory, recordReceipt, type Database } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import { aliyunReceiptLookUp, aliyunSmsClient, foundByOutId } from '@lr/sms';
import {
  claimMessage,
  markSent,
  fakeAliyun,
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  TEST_ALIYUN,
  testCategory,
  testLicense,
  validLicense,
  type FakeAliyun,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { createTask } from 'node-cron';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOOK_FOR_MINUTES, PASS_EVERY_MINUTES, receiptReconciler } from '../src/reconcile';
import { upkeep } from '../src/upkeep';

const TZ = 'Asia/Shanghai';
const log = createLogger('test', 'silent');
const TODAY = localDate(TZ, new Date());
const NAMES = ['DELIVERED', 'FAILED', 'WAITING', 'PUSHED', 'FRESH', 'ACCOUNT', 'ELSEWHERE', 'REFUSED', 'ANSWERED', 'BOUNCED', 'OLD', 'RECENT'];

let database: TestDatabase;
let queues: TestQueues;
let aliyun: FakeAliyun;
let db: Database;
/** licence number -> its SMS: message id and the BizId Alibaba Cloud gave it */
const sent: Record<string, { id: number; bizId: string }> = {};

/** What the SMS worker does: claims the message, sends it through Alibaba Cloud (OutId = its id), records the BizId. */
async function send(messageId: number): Promise<string> {
  const claim = await claimMessage(db, messageId, 'sms-worker-test', { leaseSeconds: 120, maxClaims: 8 });
  const client = aliyunSmsClient({ ...TEST_ALIYUN, endpoint: aliyun.url });
  const { bizId } = await client.sendSms({
    phone: claim!.message.recipient.replace(/^\+86/, ''),
    signName: TEST_ALIYUN.signName,
    templateCode: 'SMS_100000001',
    templateParam: { name: '食品经营许可证', no: 'JY1', date: '2026-03-31', token: 'Xq3vT8kLm2Rw9ZpA', tel: '0398-7856315' },
    outId: String(messageId),
  });
  expect(bizId).toBeTruthy();
  expect(await markSent(db, messageId, 'sms-worker-test', { providerMessageId: bizId!, body: 'template SMS' })).toBeDefined();
  return bizId!;
}

/** Moves a message's send back in time, as if it had been sent `minutes` ago. */
/**
 * The SMS as sent `minutes` ago, in our record and at the fake alike: Alibaba Cloud files an
 * SMS under its Beijing day, which near midnight is not the day of now.
 */
async function sentAgo(id: number, minutes: number) {
  const { rows } = await sql<{ providerMessageId: string | null; sentAt: Date }>`
    update outgoing_messages set sent_at = now() - make_interval(mins => ${minutes}) where id = ${id}
    returning provider_message_id, sent_at`.execute(db);
  const [{ providerMessageId, sentAt }] = rows as [(typeof rows)[number]];
  if (providerMessageId && !providerMessageId.startsWith('outid:')) aliyun.setSentAt(providerMessageId, sentAt);
}

/** Alibaba Cloud's look-up, as the scheduler builds it (providers.ts: receiptLookUp). */
const lookUp = (reconcileMinutes = 30) => aliyunReceiptLookUp(aliyunSmsClient({ ...TEST_ALIYUN, endpoint: aliyun.url }), { reconcileMinutes, timezone: TZ });
const reconciler = (reconcileMinutes = 30) => receiptReconciler({ db, receipts: lookUp(reconcileMinutes), log });

beforeAll(async () => {
  [database, queues, aliyun] = await Promise.all([freshDatabase(), freshMessageQueues(), fakeAliyun()]);
  db = database.db;
  await insertCategory(db, testCategory({ code: 'food', channels: ['sms'] }));
  await storeLicenses(
    db,
    NAMES.map((licenseNo, i) => validLicense(testLicense({ categoryCode: 'food', licenseNo, phone: `136123456${String(i).padStart(2, '0')}`, expiresOn: addDays(TODAY, 10) }))),
  );
  await runScan({ db, queues: queues.queues, log, followUpDays: FOLLOW_UP_DAYS }, { asOf: TODAY, trigger: 'command' });
  const { rows } = await sql<{ id: number; licenseNo: string }>`
    select m.id, l.license_no as "licenseNo" from outgoing_messages m join deliveries d on d.message_id = m.id
      join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id`.execute(db);
  expect(rows).toHaveLength(NAMES.length);
  for (const { id, licenseNo } of rows) sent[licenseNo] = { id, bizId: await send(id) };
});

afterAll(async () => {
  await Promise.all([database?.drop(), queues?.cleanup(), aliyun?.close()]);
});

const statusOf = async (name: string) => {
  const message = await findMessage(db, sent[name]!.id);
  return { status: message!.status, errorCode: message!.errorCode, errorMessage: message!.errorMessage, deliveredAt: message!.deliveredAt };
};
/** The look-ups the fake was asked, by BizId. */
const lookedUp = () => aliyun.lookUps().map((q) => q.get('BizId'));

describe('SMS left without a receipt', () => {
  beforeEach(async () => {
    // Each test starts with every SMS fresh, so that only what it ages is looked up.
    await sql`update outgoing_messages set sent_at = now()`.execute(db);
  });

  it('are looked up after ALIYUN_SMS_RECONCILE_MINUTES and get the status Alibaba Cloud has: delivered, or undelivered with the code and its meaning', async () => {
    aliyun.setStatus(sent.DELIVERED!.bizId, 3);
    aliyun.setStatus(sent.FAILED!.bizId, 2, 'MK:0001');
    for (const name of ['DELIVERED', 'FAILED', 'WAITING']) await sentAgo(sent[name]!.id, 31);
    const before = aliyun.lookUps().length;
    expect(await reconciler(30)()).toEqual({ looked: 3, delivered: 1, undelivered: 1, failed: 0, waiting: 1 });
    // Asked by phone, Beijing day and BizId, with the real SDK's signature.
    const asked = aliyun.lookUps().slice(before);
    expect(asked.map((q) => q.get('BizId')).sort()).toEqual([sent.DELIVERED!.bizId, sent.FAILED!.bizId, sent.WAITING!.bizId].sort());
    expect(asked[0]!.get('PhoneNumber')).toMatch(/^1361234560\d$/);
    expect(asked[0]!.get('SendDate')).toMatch(/^\d{8}$/);
    expect(aliyun.badSignatures()).toBe(0);

    const delivered = await statusOf('DELIVERED');
    expect(delivered).toMatchObject({ status: 'delivered', errorCode: null });
    expect(delivered.deliveredAt).toBeInstanceOf(Date);
    const failed = await statusOf('FAILED');
    expect(failed).toMatchObject({ status: 'undelivered', errorCode: 'MK:0001' });
    expect(failed.errorMessage).toMatch(/number is not in use.*\(Alibaba Cloud MK:0001\)$/);
    // Still waiting at Alibaba Cloud: stays sent, to be looked up again.
    expect(await statusOf('WAITING')).toMatchObject({ status: 'sent' });
  });

  it('leaves alone an SMS sent less than ALIYUN_SMS_RECONCILE_MINUTES ago, and one whose receipt came', async () => {
    await sentAgo(sent.FRESH!.id, 29);
    await sentAgo(sent.PUSHED!.id, 45);
    aliyun.setStatus(sent.PUSHED!.bizId, 2, 'UNDELIV');
    // The push came first: the message is delivered, and not asked about.
    await recordReceipt(db, sent.PUSHED!.bizId, 'delivered');
    const before = aliyun.lookUps().length;
    expect(await reconciler(30)()).toEqual({ looked: 0, delivered: 0, undelivered: 0, failed: 0, waiting: 0 });
    expect(aliyun.lookUps().length).toBe(before);
    expect(await statusOf('FRESH')).toMatchObject({ status: 'sent' });
    expect(await statusOf('PUSHED')).toMatchObject({ status: 'delivered' });
  });

  it('looks at a few each round, in send order, and comes back to those still waiting on a later pass', async () => {
    // The later id sent first: the order is the send time's, not the id's.
    const [lower, higher] = [sent.WAITING!, sent.ELSEWHERE!].sort((a, b) => a.id - b.id);
    await sentAgo(higher!.id, 50);
    await sentAgo(lower!.id, 40);
    const reconcile = receiptReconciler({ db, receipts: lookUp(), log, perRound: 1 });
    const before = aliyun.lookUps().length;
    await reconcile();
    await reconcile();
    await reconcile();
    expect(lookedUp().slice(before)).toEqual([higher!.bizId, lower!.bizId, higher!.bizId]);
  });

  it(`starts a new pass at most every ${PASS_EVERY_MINUTES} minutes after one that asked: an SMS still waiting is not asked about at every round`, async () => {
    let clock = Date.now();
    const reconcile = receiptReconciler({ db, receipts: lookUp(), log, passEveryMinutes: PASS_EVERY_MINUTES, now: () => new Date(clock) });
    const before = aliyun.lookUps().length;
    // None old enough: a pass that asks nothing does not hold back the next round.
    expect(await reconcile()).toMatchObject({ looked: 0 });
    await sentAgo(sent.WAITING!.id, 40);
    clock += 60_000;
    expect(await reconcile()).toMatchObject({ looked: 1, waiting: 1 });
    // The next upkeep rounds, a minute apart: the pass is done, the next one not due.
    clock += 60_000;
    expect(await reconcile()).toEqual({ looked: 0, delivered: 0, undelivered: 0, failed: 0, waiting: 0 });
    clock += (PASS_EVERY_MINUTES - 2) * 60_000;
    expect(await reconcile()).toMatchObject({ looked: 0 });
    expect(lookedUp().slice(before)).toEqual([sent.WAITING!.bizId]);
    // Its time come, the next pass asks again.
    clock += 60_000;
    expect(await reconcile()).toMatchObject({ looked: 1, waiting: 1 });
    expect(lookedUp().slice(before)).toEqual([sent.WAITING!.bizId, sent.WAITING!.bizId]);
  });

  it('pages by send time to the microsecond: two SMS sent in the same millisecond are each looked up once a pass', async () => {
    const [lower, higher] = [sent.WAITING!, sent.ELSEWHERE!].sort((a, b) => a.id - b.id);
    // The same millisecond, microseconds apart, the later id first: a cursor rounded to a Date would lose one, or repeat it.
    const { rows } = await sql<{ providerMessageId: string; sentAt: Date }>`
      update outgoing_messages
        set sent_at = date_trunc('milliseconds', now() - interval '40 minutes') + case when id = ${higher!.id} then interval '200 microseconds' else interval '700 microseconds' end
        where id in (${lower!.id}, ${higher!.id}) returning provider_message_id, sent_at`.execute(db);
    for (const { providerMessageId, sentAt } of rows) aliyun.setSentAt(providerMessageId, sentAt);
    const reconcile = receiptReconciler({ db, receipts: lookUp(), log, perRound: 1 });
    const before = aliyun.lookUps().length;
    for (let round = 0; round < 3; round += 1) await reconcile();
    expect(lookedUp().slice(before)).toEqual([higher!.bizId, lower!.bizId, higher!.bizId]);
  });

  it('reads from a partial index of the SMS waiting by (sent_at, id): those that never get a receipt, too old to look up, are not read', async () => {
    const { rows } = await sql<{ indexdef: string }>`
      select indexdef from pg_indexes where tablename = 'outgoing_messages' and indexdef like '%status = %sent%'`.execute(db);
    expect(rows.map((r) => r.indexdef)).toEqual([expect.stringMatching(/USING btree \(sent_at, id\) WHERE \(\(channel = 'sms'::text\) AND \(status = 'sent'::text\)\)$/)]);
  });

  it('does not take another SMS of the same BizId for its own: the entry must carry its OutId', async () => {
    // An SMS whose BizId Alibaba Cloud lists under another OutId (not ours): left waiting.
    await sentAgo(sent.ELSEWHERE!.id, 40);
    await sql`update outgoing_messages set provider_message_id = ${sent.DELIVERED!.bizId + '-x'} where id = ${sent.ELSEWHERE!.id}`.execute(db);
    try {
      expect(await reconciler(30)()).toEqual({ looked: 1, delivered: 0, undelivered: 0, failed: 0, waiting: 1 });
      expect(await statusOf('ELSEWHERE')).toMatchObject({ status: 'sent' });
    } finally {
      await sql`update outgoing_messages set provider_message_id = ${sent.ELSEWHERE!.bizId} where id = ${sent.ELSEWHERE!.id}`.execute(db);
    }
  });

  it('an account error ends the round and fails nothing; upkeep logs it and the next round tries again', async () => {
    await sentAgo(sent.ACCOUNT!.id, 40);
    aliyun.setStatus(sent.ACCOUNT!.bizId, 3);
    aliyun.queueFaults({ code: 'isv.OUT_OF_SERVICE' });
    const lines: string[] = [];
    const seen = createLogger('test', 'info', { write: (line: string) => void lines.push(line) }, 'json');
    const reconcileReceipts = receiptReconciler({ db, receipts: lookUp(), log: seen });
    const round = {
      deps: { db, queues: queues.queues, log: seen, followUpDays: FOLLOW_UP_DAYS, redis: queues.connection, claimLeaseSeconds: 120 },
      timezone: TZ,
      dailyScan: createTask('0 0 1 1 *', () => undefined),
      scanToday: async () => undefined,
      intervalMs: 60_000,
      messageRetentionDays: 365,
      reconcileReceipts,
      log: seen,
    };
    await upkeep(round);
    expect(await statusOf('ACCOUNT')).toMatchObject({ status: 'sent', errorCode: null });
    expect(lines.some((line) => line.includes('looking up SMS without a receipt failed') && line.includes('isv.OUT_OF_SERVICE'))).toBe(true);
    await upkeep(round);
    expect(await statusOf('ACCOUNT')).toMatchObject({ status: 'delivered' });
  });

  it(`a pass broken off by an error holds back no round, with passes ${PASS_EVERY_MINUTES} minutes apart`, async () => {
    await sentAgo(sent.WAITING!.id, 40);
    let clock = Date.now();
    const reconcile = receiptReconciler({ db, receipts: lookUp(), log, passEveryMinutes: PASS_EVERY_MINUTES, now: () => new Date(clock) });
    aliyun.queueFaults('throttling');
    await expect(reconcile()).rejects.toMatchObject({ permanent: false, code: 'Throttling.User' });
    clock += 60_000;
    expect(await reconcile()).toMatchObject({ looked: 1, waiting: 1 });
  });

  it('a throttled or dropped look-up is tried again on the next round', async () => {
    await sentAgo(sent.WAITING!.id, 40);
    aliyun.queueFaults('throttling', 'drop');
    const reconcile = reconciler(30);
    await expect(reconcile()).rejects.toMatchObject({ permanent: false, code: 'Throttling.User' });
    await expect(reconcile()).rejects.toMatchObject({ permanent: false, wait: undefined });
    expect(await reconcile()).toMatchObject({ looked: 1, waiting: 1 });
  });

  it('looks up an SMS recorded by its OutId (found before sending again: no BizId) by phone and day alone', async () => {
    const { id, bizId } = sent.WAITING!;
    await sql`update outgoing_messages set provider_message_id = ${foundByOutId(id)} where id = ${id}`.execute(db);
    await sentAgo(id, 40);
    aliyun.setStatus(bizId, 3);
    const before = aliyun.lookUps().length;
    expect(await reconciler(30)()).toMatchObject({ looked: 1, delivered: 1 });
    expect(aliyun.lookUps().slice(before).map((q) => q.get('BizId'))).toEqual([null]);
    expect(await statusOf('WAITING')).toMatchObject({ status: 'delivered' });
  });

  it('skips an SMS whose look-up Alibaba Cloud refuses (counted waiting, logged), and still looks up and records the others of the round', async () => {
    // Sent in this order: the refused one's look-up is the round's first.
    await sentAgo(sent.REFUSED!.id, 50);
    await sentAgo(sent.ANSWERED!.id, 45);
    await sentAgo(sent.BOUNCED!.id, 40);
    aliyun.setStatus(sent.REFUSED!.bizId, 3);
    aliyun.setStatus(sent.ANSWERED!.bizId, 3);
    aliyun.setStatus(sent.BOUNCED!.bizId, 2, 'MK:0001');
    aliyun.queueFaults({ code: 'isv.MOBILE_NUMBER_ILLEGAL' });
    const lines: string[] = [];
    const seen = createLogger('test', 'info', { write: (line: string) => void lines.push(line) }, 'json');
    const before = aliyun.lookUps().length;
    expect(await receiptReconciler({ db, receipts: lookUp(), log: seen })()).toEqual({ looked: 2, delivered: 1, undelivered: 1, failed: 0, waiting: 1 });
    expect(lookedUp().slice(before)).toEqual([sent.REFUSED!.bizId, sent.ANSWERED!.bizId, sent.BOUNCED!.bizId]);
    expect(await statusOf('REFUSED')).toMatchObject({ status: 'sent', errorCode: null });
    expect(await statusOf('ANSWERED')).toMatchObject({ status: 'delivered' });
    expect(await statusOf('BOUNCED')).toMatchObject({ status: 'undelivered', errorCode: 'MK:0001' });
    const refused = lines.map((line) => JSON.parse(line) as { level: number; msg: string; messageId?: number; code?: string }).filter((l) => l.msg.includes('refused the look-up'));
    expect(refused).toEqual([expect.objectContaining({ level: 40, messageId: sent.REFUSED!.id, code: 'isv.MOBILE_NUMBER_ILLEGAL' })]);
    expect(lines.join('\n')).not.toContain(aliyun.lookUps()[before]!.get('PhoneNumber'));
    // Refused once, not for ever: the next round asks again.
    expect(await reconciler(30)()).toMatchObject({ looked: 1, delivered: 1 });
    expect(await statusOf('REFUSED')).toMatchObject({ status: 'delivered' });
  });

  it(`looks up an SMS for ${LOOK_FOR_MINUTES / 60} hours after it was sent, and no longer: the carriers report within them`, async () => {
    expect(LOOK_FOR_MINUTES).toBe(72 * 60);
    await sentAgo(sent.OLD!.id, 73 * 60);
    await sentAgo(sent.RECENT!.id, 71 * 60);
    aliyun.setStatus(sent.OLD!.bizId, 3);
    aliyun.setStatus(sent.RECENT!.bizId, 3);
    const before = aliyun.lookUps().length;
    expect(await reconciler(30)()).toEqual({ looked: 1, delivered: 1, undelivered: 0, failed: 0, waiting: 0 });
    expect(lookedUp().slice(before)).toEqual([sent.RECENT!.bizId]);
    expect(await statusOf('RECENT')).toMatchObject({ status: 'delivered' });
    // Left as sent: it will not get a final status.
    expect(await statusOf('OLD')).toMatchObject({ status: 'sent' });
  });
});
