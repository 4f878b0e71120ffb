/**
 * The SMS worker with SMS_PROVIDER=aliyun, through the official SDK against the fake Alibaba
 * Cloud (which verifies each request's signature): the template SMS and its OutId, the digest,
 * each error class of the contract (a hold as the BullMQ job delayed), the account-wide pause,
 * time-outs, and the look-up before sending
 * again (QuerySendDetails, matched by OutId).
 */
import { findMessage, insertCategory } from '@lr/db';
import { deliverMessage, startDeliveryWorker } from '@lr/delivery';
import { nextLocalMidnight, type License } from '@lr/domain';
import { counters, redisConnection, sendSms } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { aliyunSender, aliyunSmsClient, foundByOutId } from '@lr/sms';
import {
  ageClaim,
  claimMessage,
  eventually,
  fakeAliyun,
  freshDatabase,
  freshMessageQueues,
  scanMessages,
  TEST_ALIYUN,
  testCategory,
  testLicense,
  validLicense,
  type FakeAliyun,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { smsChannel } from '../src/sms.channel';

const BASE_URL = 'https://reminders.example.gov.cn';
const AS_OF = '2026-03-01';
const TIMEZONE = 'Asia/Shanghai';
const log = createLogger('aliyun-test', 'silent');

const CATEGORY = testCategory({
  code: 'al-food',
  channels: ['sms'],
  aliyunTemplateCode: 'SMS_100000001',
  aliyunTemplateParams: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', token: '{renewalToken}', tel: '{consultPhone}' },
});
/** Its holder's name as a variable: a long enterprise name is more than 35 characters. */
const NAMED = testCategory({ code: 'al-named', channels: ['sms'], aliyunTemplateCode: 'SMS_100000001', aliyunTemplateParams: { ...CATEGORY.aliyunTemplateParams, name: '{holderName}' } });

let database: TestDatabase;
let idle: TestQueues;
let phoneSeq = 0;

const newPhone = () => `+86139${String((phoneSeq += 1)).padStart(8, '0')}`;
function licence(overrides: Partial<Parameters<typeof testLicense>[0]> = {}): License {
  return validLicense(testLicense({ categoryCode: CATEGORY.code, phone: newPhone(), expiresOn: '2026-03-31', ...overrides }));
}

/** Stores the licences and scans: the ids of the SMS messages made. */
async function seed(queues: TestQueues['queues'], ...licences: License[]): Promise<number[]> {
  const messages = await scanMessages({ db: database.db, queues }, licences, AS_OF);
  return messages.filter((m) => m.channel === 'sms').map((m) => m.id);
}

async function message(id: number) {
  const found = await findMessage(database.db, id);
  if (!found) throw new Error(`message ${id} not found`);
  return found;
}

const settings = (fake: FakeAliyun) => ({
  accessKeyId: TEST_ALIYUN.accessKeyId,
  accessKeySecret: TEST_ALIYUN.accessKeySecret,
  endpoint: fake.url,
  signName: TEST_ALIYUN.signName,
  digestTemplateCode: TEST_ALIYUN.digestTemplateCode,
});
const channelFor = (fake: FakeAliyun, now?: () => Date, timeoutMs = 2_000) =>
  smsChannel(aliyunSender(settings(fake), { timezone: TIMEZONE, timeoutMs, ...(now && { now }) }), {
    db: database.db,
    maxPerRecipientPerDay: 3,
    timezone: TIMEZONE,
  });
const deps = () => ({ db: database.db, log, workerId: 'w1', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: BASE_URL });

beforeAll(async () => {
  database = await freshDatabase();
  idle = await freshMessageQueues();
  await insertCategory(database.db, CATEGORY);
  await insertCategory(database.db, NAMED);
});

afterAll(async () => {
  await idle?.cleanup();
  await database?.drop();
});

describe('deliverMessage with the Alibaba Cloud sender', () => {
  let fake: FakeAliyun;
  beforeEach(async () => {
    fake = await fakeAliyun();
  });
  afterEach(() => fake.close());

  it('sends the template with its variables, the signature and OutId = the message id; the BizId is the provider id', async () => {
    const l = licence();
    const [id] = await seed(idle.queues, l);
    const result = await deliverMessage(deps(), channelFor(fake), id!, false);
    expect(fake.badSignatures()).toBe(0);
    const [sms] = fake.sms();
    const stored = await message(id!);
    expect(sms).toMatchObject({
      phone: l.phone!.slice(3),
      signName: '卢氏县政务服务',
      templateCode: 'SMS_100000001',
      templateParam: { name: '食品经营许可证', no: l.licenseNo, date: '2026-03-31', token: stored.linkToken, tel: CATEGORY.consultPhone },
      outId: String(id),
    });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: sms!.bizId });
    // The text kept for the ledger and the inbox is the category's smsTemplate, as with Twilio.
    expect(stored).toMatchObject({ status: 'sent', providerMessageId: sms!.bizId, attempts: 1 });
    expect(stored.body).toContain(l.licenseNo);
  });

  it('records an SMS answered Code OK without a BizId as sent, under its OutId (foundByOutId): Alibaba Cloud took it', async () => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults('okWithoutBizId');
    const result = await deliverMessage(deps(), channelFor(fake), id!, false);
    expect(result).toEqual({ outcome: 'sent', providerMessageId: foundByOutId(id!) });
    expect(await message(id!)).toMatchObject({ status: 'sent', providerMessageId: foundByOutId(id!), attempts: 1 });
    expect(fake.sms()).toHaveLength(1);
  });

  it('sends a message carrying several licences with the digest template: count, first, earliest date, token, tel', async () => {
    const phone = newPhone();
    const ids = await seed(idle.queues, licence({ phone, expiresOn: '2026-03-31' }), licence({ phone, expiresOn: '2026-03-25' }));
    expect(ids).toHaveLength(1);
    expect((await deliverMessage(deps(), channelFor(fake), ids[0]!, false)).outcome).toBe('sent');
    const stored = await message(ids[0]!);
    expect(fake.sms()).toEqual([
      expect.objectContaining({
        templateCode: TEST_ALIYUN.digestTemplateCode,
        templateParam: { count: '2', first: '食品经营许可证', date: '2026-03-25', token: stored.linkToken, tel: CATEGORY.consultPhone },
        outId: String(ids[0]),
      }),
    ]);
  });

  it('fails a message whose variable would be over 35 characters with template_param_too_long, uncalled', async () => {
    const [id] = await seed(idle.queues, licence({ categoryCode: NAMED.code, holderName: `${'卢氏县示例'.repeat(7)}有限公司` }));
    expect(await deliverMessage(deps(), channelFor(fake), id!, false)).toMatchObject({ outcome: 'failed', code: 'template_param_too_long' });
    expect(fake.sendCalls()).toHaveLength(0);
    expect(await message(id!)).toMatchObject({ status: 'failed', errorCode: 'template_param_too_long' });
  });

  it.each([
    'isv.MOBILE_NUMBER_ILLEGAL',
    'isv.TEMPLATE_MISSING_PARAMETERS',
    'isv.INVALID_PARAMETERS',
    'isv.SMS_TEMPLATE_ILLEGAL',
    'isv.SMS_SIGNATURE_ILLEGAL',
    'isv.BLACK_KEY_CONTROL_LIMIT',
  ])('fails the message after one call on %s, with the code and its meaning', async (code) => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults({ code });
    expect(await deliverMessage(deps(), channelFor(fake), id!, false)).toMatchObject({ outcome: 'failed', code });
    expect(fake.sendCalls()).toHaveLength(1);
    const stored = await message(id!);
    expect(stored).toMatchObject({ status: 'failed', errorCode: code, providerMessageId: null });
    expect(stored.errorMessage!.length).toBeGreaterThan(code.length);
    expect(await deliverMessage(deps(), channelFor(fake), id!, false)).toEqual({ outcome: 'skipped' });
    expect(fake.sendCalls()).toHaveLength(1);
  });

  it("holds a message an hour on the carrier's frequency limit (isv.BUSINESS_LIMIT_CONTROL), its claim uncounted", async () => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults({ code: 'isv.BUSINESS_LIMIT_CONTROL' });
    const now = new Date();
    const result = await deliverMessage(deps(), channelFor(fake, () => now), id!, false);
    expect(result).toEqual({ outcome: 'held', until: new Date(now.getTime() + 3_600_000) });
    expect(await message(id!)).toMatchObject({ status: 'queued', attempts: 0, errorCode: 'isv.BUSINESS_LIMIT_CONTROL', lockedBy: null });
  });

  it('holds a message to the next local day on the daily limit (isv.DAY_LIMIT_CONTROL)', async () => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults({ code: 'isv.DAY_LIMIT_CONTROL' });
    const now = new Date();
    expect(await deliverMessage(deps(), channelFor(fake, () => now), id!, false)).toEqual({ outcome: 'held', until: nextLocalMidnight(TIMEZONE, now) });
    expect(await message(id!)).toMatchObject({ status: 'queued', errorCode: 'isv.DAY_LIMIT_CONTROL' });
  });

  it.each([
    ['throttling', 'Throttling.User'],
    ['http500', 'InternalError'],
    ['drop', 'ECONNRESET'],
  ] as const)('retries on %s (%s), and fails only on the last attempt', async (fault, code) => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults(fault, fault);
    expect(await deliverMessage(deps(), channelFor(fake), id!, false)).toMatchObject({ outcome: 'retry', code });
    expect(await message(id!)).toMatchObject({ status: 'queued', errorCode: code });
    expect(await deliverMessage(deps(), channelFor(fake), id!, true)).toMatchObject({ outcome: 'failed', code });
  });

  it('retries a send Alibaba Cloud answers slower than the time-out: not failed, the claim given back and counted, sent on the next try', async () => {
    const [id] = await seed(idle.queues, licence());
    // Answered 1.5 s late to a sender that waits 0.5 s.
    fake.queueFaults({ lateMs: 1_500 });
    const started = Date.now();
    const first = await deliverMessage(deps(), channelFor(fake, undefined, 500), id!, false);
    expect(first).toMatchObject({ outcome: 'retry' });
    expect(Date.now() - started).toBeLessThan(1_400);
    // The SDK's read time-out, kept on the message for the operator.
    expect(await message(id!)).toMatchObject({ status: 'queued', attempts: 1, lockedBy: null, providerMessageId: null, errorCode: 'RequestTimeoutError' });

    const second = await deliverMessage(deps(), channelFor(fake, undefined, 500), id!, false);
    expect(fake.sendCalls()).toHaveLength(2);
    // The late SMS too was taken: a time-out cannot tell, and the retry sends it again (the contract's retry).
    const bizId = fake.sms().at(-1)!.bizId;
    expect(second).toEqual({ outcome: 'sent', providerMessageId: bizId });
    expect(await message(id!)).toMatchObject({ status: 'sent', attempts: 2, providerMessageId: bizId, errorCode: null });
  });

  it.each(['isv.AMOUNT_NOT_ENOUGH', 'isv.OUT_OF_SERVICE', 'InvalidAccessKeyId.NotFound'])('fails no message on %s: it goes back untried', async (code) => {
    const [id] = await seed(idle.queues, licence());
    fake.queueFaults({ code });
    // Even on what would be its last attempt.
    expect(await deliverMessage(deps(), channelFor(fake), id!, true)).toMatchObject({ outcome: 'paused', code });
    expect(await message(id!)).toMatchObject({ status: 'queued', attempts: 0, errorCode: code });
  });

  it('pauses on a refused signature (a wrong secret) rather than failing the message', async () => {
    const [id] = await seed(idle.queues, licence());
    const wrong = smsChannel(aliyunSender({ ...settings(fake), accessKeySecret: 'wrong-secret' }, { timezone: TIMEZONE }), {
      db: database.db,
      maxPerRecipientPerDay: 3,
      timezone: TIMEZONE,
    });
    expect(await deliverMessage(deps(), wrong, id!, true)).toMatchObject({ outcome: 'paused', code: 'SignatureDoesNotMatch' });
    expect(fake.badSignatures()).toBe(1);
    expect(await message(id!)).toMatchObject({ status: 'queued' });
  });

  it('pauses on an unknown access key (InvalidAccessKeyId.NotFound, which Alibaba Cloud answers with HTTP 404) and fails no message', async () => {
    const [id] = await seed(idle.queues, licence());
    const unknown = smsChannel(aliyunSender({ ...settings(fake), accessKeyId: 'LTAI5tNoSuchAccessKeyId00' }, { timezone: TIMEZONE, timeoutMs: 2_000 }), {
      db: database.db,
      maxPerRecipientPerDay: 3,
      timezone: TIMEZONE,
    });
    // Even on what would be its last attempt.
    expect(await deliverMessage(deps(), unknown, id!, true)).toMatchObject({ outcome: 'paused', code: 'InvalidAccessKeyId.NotFound' });
    expect(fake.sendCalls()).toHaveLength(1);
    expect(fake.sms()).toHaveLength(0);
    const stored = await message(id!);
    expect(stored).toMatchObject({ status: 'queued', attempts: 0, lockedBy: null, errorCode: 'InvalidAccessKeyId.NotFound' });
    expect(stored.errorMessage).toContain('ALIYUN_ACCESS_KEY_ID is unknown');
    // The key fixed: it goes.
    expect((await deliverMessage(deps(), channelFor(fake), id!, true)).outcome).toBe('sent');
  });

  it('looks before sending again: a send its dead worker made is found by OutId (QuerySendDetails) and recorded, not sent again', async () => {
    const l = licence();
    const [id] = await seed(idle.queues, l);
    // A worker claimed it, Alibaba Cloud took it, and the worker died before recording it.
    await claimMessage(database.db, id!, 'died', { leaseSeconds: 60, maxClaims: 8 });
    const client = aliyunSmsClient(settings(fake));
    const { bizId } = await client.sendSms({ phone: l.phone!.slice(3), signName: TEST_ALIYUN.signName, templateCode: 'SMS_100000001', templateParam: { name: 'a', no: 'b', date: 'c', token: 'd', tel: 'e' }, outId: String(id) });
    fake.setStatus(bizId!, 3);
    await ageClaim(database.db, id!, 120);
    expect(await deliverMessage(deps(), channelFor(fake), id!, false)).toEqual({ outcome: 'sent', providerMessageId: foundByOutId(id!) });
    expect(fake.sendCalls()).toHaveLength(1);
    const [lookUp] = fake.lookUps();
    expect(lookUp!.get('PhoneNumber')).toBe(l.phone!.slice(3));
    expect(lookUp!.get('SendDate')).toMatch(/^\d{8}$/);
    expect(await message(id!)).toMatchObject({ status: 'delivered', providerMessageId: foundByOutId(id!) });
  });

  it('sends again when the look-up finds no SMS with its OutId', async () => {
    const l = licence();
    const [id] = await seed(idle.queues, l);
    await claimMessage(database.db, id!, 'died', { leaseSeconds: 60, maxClaims: 8 });
    await ageClaim(database.db, id!, 120);
    expect((await deliverMessage(deps(), channelFor(fake), id!, false)).outcome).toBe('sent');
    expect(fake.lookUps().length).toBeGreaterThanOrEqual(1);
    expect(fake.sms()).toEqual([expect.objectContaining({ outId: String(id) })]);
  });

  it.each(['http500', 'drop'] as const)('sends again, and records it sent once, when the look-up before sending again fails (%s)', async (fault) => {
    const [id] = await seed(idle.queues, licence());
    await claimMessage(database.db, id!, 'died', { leaseSeconds: 60, maxClaims: 8 });
    await ageClaim(database.db, id!, 120);
    // The look-up (QuerySendDetails) is the first request, and fails: it is sent again.
    fake.queueFaults(fault);
    const result = await deliverMessage(deps(), channelFor(fake), id!, false);
    expect(fake.lookUps()).toHaveLength(1);
    expect(fake.sendCalls()).toHaveLength(1);
    const [sms] = fake.sms();
    expect(sms).toMatchObject({ outId: String(id) });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: sms!.bizId });
    expect(await message(id!)).toMatchObject({ status: 'sent', providerMessageId: sms!.bizId });
    const sentEvents = await database.db
      .selectFrom('deliveryEvents as e')
      .innerJoin('deliveries as d', 'd.id', 'e.deliveryId')
      .select('e.id')
      .where('d.messageId', '=', id!)
      .where('e.status', '=', 'sent')
      .execute();
    expect(sentEvents).toHaveLength(1);
  });
});

describe('the SMS worker running against Alibaba Cloud', () => {
  let fake: FakeAliyun;
  let queue: TestQueues;
  beforeEach(async () => {
    fake = await fakeAliyun();
    queue = await freshMessageQueues();
  });
  afterEach(async () => {
    await queue.cleanup();
    await fake.close();
  });

  it('pauses the queue when the account cannot send, with backoff, an error log line and a metric, fails no message, and sends them all once the account works', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    fake.setStandingFault({ code: 'isv.AMOUNT_NOT_ENOUGH' });
    const connection = redisConnection(queue.url);
    const worker = startDeliveryWorker({
      job: sendSms,
      channel: channelFor(fake),
      deps: { ...deps(), log: createLogger('sms-worker', 'info', stream, 'json') },
      connection,
      prefix: queue.prefix,
      concurrency: 4,
      quietHours: null,
      timezone: TIMEZONE,
      ratePerSecond: 100,
      accountPauseMs: { first: 400, max: 800 },
    });
    try {
      const ids = await seed(queue.queues, licence(), licence(), licence());
      await eventually(async () => (fake.sendCalls().length >= 3 ? true : undefined), 10_000, 'the worker tried');
      // Paused, not spinning: over 1.5 s, a few calls (the jobs under way, then one per pause).
      const calls = fake.sendCalls().length;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(fake.sendCalls().length - calls).toBeLessThan(10);
      for (const id of ids) expect(await message(id)).toMatchObject({ status: 'queued', errorCode: 'isv.AMOUNT_NOT_ENOUGH' });
      const paused = lines.map((l) => JSON.parse(l) as { level: number; msg: string; code?: string }).filter((l) => l.msg.includes('paused'));
      expect(paused.length).toBeGreaterThanOrEqual(1);
      expect(paused[0]).toMatchObject({ level: 50, code: 'isv.AMOUNT_NOT_ENOUGH' });
      await eventually(async () => ((await counters(connection, queue.prefix).read()).get('providerPauses:sms') ? true : undefined), 5_000, 'the pause counted');

      // Topped up: the messages go, each once.
      fake.setStandingFault(null);
      await eventually(async () => ((await Promise.all(ids.map(message))).every((m) => m.status === 'sent') ? true : undefined), 15_000, 'all sent');
      expect(fake.sms().map((s) => s.outId).sort()).toEqual(ids.map(String).sort());
      for (const id of ids) expect(await message(id)).toMatchObject({ status: 'sent', attempts: 1 });
    } finally {
      await worker.close();
      await connection.quit();
    }
  });

  it.each([
    ['isv.BUSINESS_LIMIT_CONTROL', 'an hour later', (at: Date) => new Date(at.getTime() + 3_600_000)],
    ['isv.DAY_LIMIT_CONTROL', 'at the next local midnight', (at: Date) => nextLocalMidnight(TIMEZONE, at)],
  ] as const)('when the carrier holds a message (%s) delays the BullMQ job until %s, the message queued and untried meanwhile', async (code, _when, until) => {
    fake.queueFaults({ code });
    const connection = redisConnection(queue.url);
    const worker = startDeliveryWorker({
      job: sendSms,
      channel: channelFor(fake),
      deps: deps(),
      connection,
      prefix: queue.prefix,
      concurrency: 2,
      quietHours: null,
      timezone: TIMEZONE,
    });
    try {
      const before = new Date();
      const [id] = await seed(queue.queues, licence());
      const job = await eventually(
        async () => {
          const found = await queue.queues.sms.getJob(`sms-${id}`);
          return found && (await found.getState()) === 'delayed' ? found : undefined;
        },
        10_000,
        'the held job delayed',
      );
      const after = new Date();
      // Due when the carrier's limit ends (job.timestamp is when the job was made, job.delay counted from its hold).
      const due = job.timestamp + job.delay;
      expect(due).toBeGreaterThan(until(before).getTime() - 5_000);
      expect(due).toBeLessThan(until(after).getTime() + 5_000);
      expect(await message(id!)).toMatchObject({ status: 'queued', attempts: 0, lockedBy: null, errorCode: code, providerMessageId: null });
      // Not tried again meanwhile (a retry's backoff is seconds).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(fake.sendCalls()).toHaveLength(1);
      expect(await job.getState()).toBe('delayed');
      expect(await message(id!)).toMatchObject({ status: 'queued', attempts: 0 });
    } finally {
      await worker.close();
      await connection.quit();
    }
  });
});
