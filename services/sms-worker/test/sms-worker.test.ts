import { clearSuppression, findMessage, findSuppression, insertCategory, listReminders, receiptBeforeSend, suppressPhone } from '@lr/db';
import { deliverMessage, startDeliveryWorker } from '@lr/delivery';
import { addDays, localDate, localSecondOfDay, nextLocalMidnight, renewalLink, type License, type LicenseInput } from '@lr/domain';
import { enqueue, redisConnection, sendSms, type MessageQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import {
  ageClaim,
  claimMessage,
  eventually,
  failSentRecords,
  fakeTwilio,
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  scanMessages,
  storeLicenses,
  TEST_TWILIO,
  testCategory,
  testLicense,
  validLicense,
  type FakeTwilio,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logSender, twilioSender } from '@lr/sms';
import { smsChannel } from '../src/sms.channel';

/** Longer than a worker keeps its counts before it writes them to Redis (counters.ts: 1 s). */
const COUNTERS_FLUSHED_MS = 1_200;

const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';
const STATUS_CALLBACK = `${PUBLIC_BASE_URL}/webhooks/twilio/status`;
const AS_OF = '2026-03-01';
const PHONE = '+8613800138000';
const log = createLogger('sms-worker-test', 'silent');
/** The contract's default cap of 3 SMS a phone a day, counted in Shanghai days. */
const limits = () => ({ db: database.db, maxPerRecipientPerDay: 3, timezone: 'Asia/Shanghai' });

type Worker = ReturnType<typeof startDeliveryWorker>;

const CATEGORY = testCategory({
  channels: ['sms'],
  smsTemplate:
    '【卢氏县政务服务】{holderName}您好，您的{licenseName}（编号{licenseNo}）将于{expiresOn}到期，距到期还有{daysLeft}天。' +
    '请登录{renewalUrl}在线办理延续；如需帮助请致电{consultPhone}。',
  pushBody: '{licenseNo}将于{expiresOn}到期',
  renewalUrl: 'https://www.hnzwfw.gov.cn/portal/smx/lushi/renew/food-business',
});

let database: TestDatabase;
/** the queues the scans put their jobs on; no worker listens on this prefix */
let idle: TestQueues;
let idleQueues: MessageQueues;

let phoneSeq = 0;
function licence(overrides: Partial<LicenseInput> = {}): License {
  phoneSeq += 1;
  return validLicense(
    testLicense({
      categoryCode: CATEGORY.code,
      // a phone of its own, so that no test depends on how many SMS another sent to one number today
      phone: `+86138${String(phoneSeq).padStart(8, '0')}`,
      expiresOn: '2026-03-31',
      ...overrides,
    }),
  );
}

async function upsert(...licences: License[]) {
  return storeLicenses(database.db, licences);
}

/** Stores the licence(s) and runs a scan on asOf (AS_OF); returns the id of the one SMS message it created. */
async function seed(queues: MessageQueues, ...args: [...License[]] | [...License[], string]): Promise<number> {
  const asOf = typeof args.at(-1) === 'string' ? (args.pop() as string) : AS_OF;
  const licences = args as License[];
  const messages = await scanMessages({ db: database.db, queues }, licences, asOf);
  // one SMS message; a running worker may have taken it already
  expect(messages).toEqual([expect.objectContaining({ channel: 'sms' })]);
  return messages[0]!.id;
}

/** Moves a message's claim two minutes back: past the tests' 60 s lease, as if its worker had died. */
/** As if the claim had been taken two minutes ago: older than the tests' lease of 60 s. */
async function outliveClaim(id: number) {
  await ageClaim(database.db, id, 120);
}

async function message(id: number) {
  const found = await findMessage(database.db, id);
  if (!found) throw new Error(`message ${id} not found`);
  return found;
}

async function deliveryStatuses(licenseNo: string): Promise<string[]> {
  const reminders = await listReminders(database.db, { licenseNo, limit: 10 });
  return reminders.flatMap((r) => r.deliveries.map((d) => d.status));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => ((await check()) ? true : undefined), timeoutMs, what);
}

function realSender(fake: FakeTwilio, timeoutMs?: number) {
  return twilioSender(
    {
      provider: 'twilio',
      accountSid: TEST_TWILIO.accountSid,
      authToken: TEST_TWILIO.authToken,
      from: TEST_TWILIO.from,
      messagingServiceSid: undefined,
      apiBaseUrl: fake.url,
    },
    STATUS_CALLBACK,
    timeoutMs,
  );
}

beforeAll(async () => {
  database = await freshDatabase();
  idle = await freshMessageQueues();
  idleQueues = idle.queues;
  await insertCategory(database.db, CATEGORY);
});

afterAll(async () => {
  await idle?.cleanup();
  await database?.drop();
});

describe('deliverMessage with the Twilio sender', () => {
  let fake: FakeTwilio;
  let channel: ReturnType<typeof smsChannel>;
  const deps = () => ({ db: database.db, log, workerId: 'w1', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: PUBLIC_BASE_URL });

  beforeEach(async () => {
    fake = await fakeTwilio();
    channel = smsChannel(realSender(fake), limits());
  });

  afterEach(async () => {
    await fake.close();
  });

  it('applies a status callback that came while the send was being recorded: the SMS ends delivered, nothing left kept', async () => {
    const id = await seed(idleQueues, licence({ phone: PHONE }));
    const real = realSender(fake);
    // Twilio's callback beats the worker's record of the send: the API keeps it (receiptBeforeSend).
    const early = smsChannel(
      {
        ...real,
        async send(to, body, sms) {
          const taken = await real.send(to, body, sms);
          expect(await receiptBeforeSend(database.db, { providerMessageId: taken.providerMessageId!, recipient: to, receipt: { status: 'delivered' } })).toBe('kept');
          return taken;
        },
      },
      limits(),
    );
    expect(await deliverMessage(deps(), early, id, false)).toMatchObject({ outcome: 'sent' });
    expect(await findMessage(database.db, id)).toMatchObject({ status: 'delivered', errorCode: null });
    const { rows } = await sql`select 1 from early_receipts`.execute(database.db);
    expect(rows).toEqual([]);
  });

  it('sends one SMS with the reminder’s facts and the status callback, and records it as sent with the sid', async () => {
    const l = licence({ phone: PHONE });
    const id = await seed(idleQueues, l);
    const result = await deliverMessage(deps(), channel, id, false);

    const sent = fake.sms();
    expect(sent).toHaveLength(1);
    const [sms] = sent;
    expect(sms!.to).toBe(PHONE);
    expect(sms!.from).toBe(TEST_TWILIO.from);
    expect(sms!.statusCallback).toBe(STATUS_CALLBACK);
    expect(sms!.body).toContain(l.licenseNo);
    expect(sms!.body).toContain('2026-03-31');
    expect(sms!.body).toContain(CATEGORY.renewalUrl);
    expect(sms!.body).toContain(CATEGORY.consultPhone);
    expect(sms!.body).toContain('食品经营许可证');
    expect(sms!.body).toContain('30天');
    expect(sms!.body).not.toMatch(/\{\w+\}/);

    const [request] = fake.requests;
    expect(request!.path).toBe(`/2010-04-01/Accounts/${TEST_TWILIO.accountSid}/Messages.json`);
    const basic = Buffer.from(`${TEST_TWILIO.accountSid}:${TEST_TWILIO.authToken}`).toString('base64');
    expect(request!.headers.authorization).toBe(`Basic ${basic}`);

    expect(result).toEqual({ outcome: 'sent', providerMessageId: sms!.sid });
    const stored = await message(id);
    expect(stored).toMatchObject({ status: 'sent', providerMessageId: sms!.sid, attempts: 1, body: sms!.body, errorCode: null });
    // Chinese text is UCS-2: 67 characters per segment once split.
    expect(stored.segments).toBe(Math.ceil([...sms!.body].length / 67));
    expect(stored.segments).toBeGreaterThan(1);
    expect(stored.sentAt).toBeInstanceOf(Date);
    expect(await deliveryStatuses(l.licenseNo)).toEqual(['sent']);
  });

  it('waits out the lease of a message another worker is sending, then takes it over and sends it once', async () => {
    const id = await seed(idleQueues, licence());
    const other = await claimMessage(database.db, id, 'worker-elsewhere', { leaseSeconds: 60, maxClaims: 8 });
    const result = await deliverMessage(deps(), channel, id, false);
    expect(result).toMatchObject({ outcome: 'held' });
    const until = (result as { until: Date }).until.getTime();
    expect(Math.abs(until - (other!.message.lockedAt!.getTime() + 61_000))).toBeLessThan(1_000);
    expect(fake.requests).toHaveLength(0);

    // The other worker died: its claim is now older than the lease. Twilio has nothing of it.
    await outliveClaim(id);
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
    expect(fake.lookUps()).toHaveLength(1);
    expect(fake.sms()).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('gives a message up as abandoned, uncalled, once its workers died mid-send on every one of its claims', async () => {
    const id = await seed(idleQueues, licence());
    const twice = { ...deps(), maxClaims: 2 };
    for (const worker of ['died-1', 'died-2']) {
      expect(await claimMessage(database.db, id, worker, { leaseSeconds: 60, maxClaims: 2 })).toBeDefined();
      await outliveClaim(id);
    }
    expect(await deliverMessage(twice, channel, id, false)).toMatchObject({ outcome: 'failed', code: 'abandoned' });
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: 'abandoned', attempts: 2 });
    expect(fake.requests).toHaveLength(0);
  });

  it('does not give up a message whose last claim is still alive', async () => {
    const id = await seed(idleQueues, licence());
    await claimMessage(database.db, id, 'alive', { leaseSeconds: 60, maxClaims: 1 });
    expect(await deliverMessage({ ...deps(), maxClaims: 1 }, channel, id, false)).toMatchObject({ outcome: 'held' });
    expect(await message(id)).toMatchObject({ status: 'sending', lockedBy: 'alive' });
  });

  it('does nothing when called again for a message already sent', async () => {
    const id = await seed(idleQueues, licence());
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
    const before = await message(id);
    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'skipped' });
    expect(await deliverMessage({ ...deps(), workerId: 'w2' }, channel, id, true)).toEqual({ outcome: 'skipped' });
    expect(fake.requests).toHaveLength(1);
    expect(await message(id)).toEqual(before);
  });

  it('fails at once on a permanent Twilio error (21211) with its code, after exactly one call', async () => {
    const l = licence();
    const id = await seed(idleQueues, l);
    fake.queueReplies({ status: 400, body: { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 } });
    const result = await deliverMessage(deps(), channel, id, false);
    expect(result).toMatchObject({ outcome: 'failed', code: '21211' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.sms()).toHaveLength(0);
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: '21211', providerMessageId: null, sentAt: null });
    expect(await deliveryStatuses(l.licenseNo)).toEqual(['failed']);

    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'skipped' });
    expect(fake.requests).toHaveLength(1);
  });

  it.each([
    [21614, '"To" number is not a mobile number'],
    [21635, '"To" number cannot receive this message'],
    [21408, 'permission to send to this region is not enabled'],
    [20003, 'Authenticate'],
  ])('fails at once on Twilio %i (a 4xx) with the code and its meaning, after exactly one call', async (code, meaning) => {
    const l = licence();
    const id = await seed(idleQueues, l);
    fake.queueReplies({ status: code === 20003 ? 401 : 400, body: { code, message: 'Authenticate', status: 400 } });
    expect(await deliverMessage(deps(), channel, id, false)).toMatchObject({ outcome: 'failed', code: String(code), message: meaning });
    expect(fake.requests).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: String(code), errorMessage: meaning });
    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'skipped' });
    expect(fake.requests).toHaveLength(1);
    expect(await findSuppression(database.db, l.phone!)).toBeUndefined();
  });

  it('on 21610 (unsubscribed) fails the message and suppresses the phone: later SMS to it fail without a call until the suppression is cleared', async () => {
    const phone = '+8613912345678';
    const first = licence({ phone, expiresOn: '2026-03-31' });
    const id = await seed(idleQueues, first);
    fake.queueReplies({ status: 400, body: { code: 21610, message: 'Attempt to send to unsubscribed recipient', status: 400 } });
    expect(await deliverMessage(deps(), channel, id, false)).toMatchObject({ outcome: 'failed', code: '21610' });
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: '21610', errorMessage: 'recipient has unsubscribed (replied STOP)' });
    expect(await findSuppression(database.db, phone)).toMatchObject({ errorCode: '21610', messageId: id });

    // The next scan's message to the same phone fails at once, and Twilio is not called.
    // (Dates past every window of AS_OF, which the other tests scan again.)
    const second = await seed(idleQueues, licence({ phone, expiresOn: '2026-06-30' }), '2026-05-31');
    expect(await deliverMessage(deps(), channel, second, false)).toMatchObject({ outcome: 'failed', code: 'suppressed' });
    expect(await message(second)).toMatchObject({ status: 'failed', errorCode: 'suppressed', attempts: 1 });
    expect(fake.requests).toHaveLength(1);

    expect(await clearSuppression(database.db, phone)).toMatchObject({ phone });
    const third = await seed(idleQueues, licence({ phone, expiresOn: '2026-07-31' }), '2026-07-01');
    expect((await deliverMessage(deps(), channel, third, false)).outcome).toBe('sent');
    expect(fake.sms().map((s) => s.to)).toEqual([phone]);
  });

  it('cancels, without calling Twilio, a message to a suppressed phone whose licence was renewed while a dead worker held it', async () => {
    const l = licence({ phone: '+8613912340001' });
    const id = await seed(idleQueues, l);
    await claimMessage(database.db, id, 'dead-worker', { leaseSeconds: 60, maxClaims: 8 });
    // Renewed while the message was being sent: its delivery is left to the worker.
    expect(await upsert({ ...l, expiresOn: '2031-03-31' })).toMatchObject({ renewed: 1 });
    await suppressPhone(database.db, { phone: l.phone!, errorCode: '21610', reason: 'STOP', messageId: null });
    await outliveClaim(id);
    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'cancelled' });
    expect(fake.requests).toHaveLength(0);
    expect(await message(id)).toMatchObject({ status: 'cancelled', errorCode: null });
  });

  it('tries again to record a send Twilio took when the database fails once: sent once, recorded', async () => {
    const id = await seed(idleQueues, licence());
    const refusing = await failSentRecords(database.db, { times: 1 });
    try {
      const result = await deliverMessage(deps(), channel, id, false);
      expect(result).toMatchObject({ outcome: 'sent', providerMessageId: fake.sms()[0]!.sid });
      expect(fake.requests).toHaveLength(1);
      expect(await message(id)).toMatchObject({ status: 'sent', providerMessageId: fake.sms()[0]!.sid });
      // two moves to 'sent' tried: the one that failed, and the one that passed
      expect(await refusing.tries()).toBe(2);
    } finally {
      await refusing.remove();
    }
  });

  it('a send whose claim was taken over while Twilio held the call is not recorded: the new holder owns the message', async () => {
    const id = await seed(idleQueues, licence());
    fake.queueReplies({ status: 201, body: { sid: 'SMtakenover', status: 'queued' }, delayMs: 1_000 });
    const delivering = deliverMessage(deps(), channel, id, false);
    await until('the SMS at Twilio', () => fake.requests.length === 1);
    await outliveClaim(id);
    expect(await claimMessage(database.db, id, 'other-worker', { leaseSeconds: 60, maxClaims: 8 })).toBeDefined();
    expect(await delivering).toEqual({ outcome: 'sent', providerMessageId: 'SMtakenover' });
    expect(await message(id)).toMatchObject({ status: 'sending', lockedBy: 'other-worker', providerMessageId: null, attempts: 2 });
  });

  describe('a message whose worker died mid-send: look before sending again', () => {
    /**
     * A worker claims the message and calls Twilio with what it renders; Twilio takes it (when
     * `reached`), and the worker dies before it records the send. Returns the SMS Twilio took.
     */
    async function diedMidSend(id: number, reached = true) {
      const dead = await claimMessage(database.db, id, 'dead-worker', { leaseSeconds: 60, maxClaims: 8 });
      const { body } = channel.render(dead!.items, renewalLink(PUBLIC_BASE_URL, dead!.message.linkToken));
      const sent = reached ? await realSender(fake).send(dead!.message.recipient, body, { messageId: id }) : null;
      await outliveClaim(id);
      return { deadClaimAt: (await message(id)).lockedAt!, recipient: dead!.message.recipient, body, sid: sent?.providerMessageId ?? null };
    }

    it('found at Twilio (To, DateSent> from the dead claim, the same text): recorded as sent with its sid, and not sent again', async () => {
      const l = licence();
      const id = await seed(idleQueues, l);
      const dead = await diedMidSend(id);
      // SMS to the phone of other text are not this message; 55 of them, newer, fill the list's
      // first page (50), and the look-up reads on.
      for (let n = 0; n < 55; n++) await realSender(fake).send(dead.recipient, `another text ${n}`, { messageId: id });

      expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'sent', providerMessageId: dead.sid });
      expect(fake.sms()).toHaveLength(56);
      expect(fake.lookUps().map((q) => q.get('Page') ?? '0')).toEqual(['0', '1']);
      const [lookUp] = fake.lookUps();
      expect(lookUp!.get('To')).toBe(dead.recipient);
      // Twilio's whole seconds, and its clock against PostgreSQL's: a minute before the dead claim.
      const after = Date.parse(lookUp!.get('DateSent>')!);
      expect(after).toBeLessThanOrEqual(dead.deadClaimAt.getTime());
      expect(after).toBeGreaterThanOrEqual(dead.deadClaimAt.getTime() - 61_000);
      expect(await message(id)).toMatchObject({ status: 'sent', providerMessageId: dead.sid, attempts: 2, body: dead.body, lockedBy: expect.stringMatching(/^w1\//) });
      expect(await deliveryStatuses(l.licenseNo)).toEqual(['sent']);
    });

    it('found already delivered, or undelivered with its code: recorded with the status Twilio gives', async () => {
      const delivered = licence();
      const first = await seed(idleQueues, delivered);
      const dead = await diedMidSend(first);
      fake.setStatus(dead.sid!, 'delivered');
      expect(await deliverMessage(deps(), channel, first, false)).toMatchObject({ outcome: 'sent', providerMessageId: dead.sid });
      expect(await message(first)).toMatchObject({ status: 'delivered', providerMessageId: dead.sid, deliveredAt: expect.any(Date) });
      expect(await deliveryStatuses(delivered.licenseNo)).toEqual(['delivered']);

      const undelivered = licence({ expiresOn: '2026-03-30' });
      const second = await seed(idleQueues, undelivered);
      const lost = await diedMidSend(second);
      fake.setStatus(lost.sid!, 'undelivered', 30003);
      expect(await deliverMessage(deps(), channel, second, false)).toMatchObject({ outcome: 'sent', providerMessageId: lost.sid });
      expect(await message(second)).toMatchObject({ status: 'undelivered', errorCode: '30003', errorMessage: 'Twilio error 30003' });
      expect(fake.sms()).toHaveLength(2);
    });

    it('not found at Twilio (the worker died before its call went through): sent again, once', async () => {
      const id = await seed(idleQueues, licence());
      await diedMidSend(id, false);
      const result = await deliverMessage(deps(), channel, id, false);
      expect(fake.lookUps()).toHaveLength(1);
      expect(fake.sms()).toHaveLength(1);
      expect(result).toEqual({ outcome: 'sent', providerMessageId: fake.sms()[0]!.sid });
      expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2 });
    });

    it('the look-up fails (Twilio answers 500): sent again, and the holder may get the SMS twice', async () => {
      const id = await seed(idleQueues, licence());
      const dead = await diedMidSend(id);
      fake.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });
      const result = await deliverMessage(deps(), channel, id, false);
      expect(fake.lookUps()).toHaveLength(1);
      const sent = fake.sms();
      expect(sent.map((s) => s.body)).toEqual([dead.body, dead.body]);
      expect(result).toEqual({ outcome: 'sent', providerMessageId: sent[1]!.sid });
      expect(await message(id)).toMatchObject({ status: 'sent', providerMessageId: sent[1]!.sid, attempts: 2 });
    });

    it('a message given back after a transient error is not looked up; nor is anything with the log provider, which has nothing to look up', async () => {
      const id = await seed(idleQueues, licence());
      fake.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });
      expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('retry');
      expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
      expect(fake.lookUps()).toHaveLength(0);
      expect(smsChannel(logSender(log), limits())).toMatchObject({ findSent: undefined });
    });
  });

  it('treats a Twilio that does not answer in time as transient', async () => {
    const id = await seed(idleQueues, licence());
    fake.queueReplies({ status: 201, body: { sid: 'SMlate' }, delayMs: 1_000 });
    const result = await deliverMessage(deps(), smsChannel(realSender(fake, 200), limits()), id, false);
    expect(result).toMatchObject({ outcome: 'retry' });
    expect(await message(id)).toMatchObject({ status: 'queued', lockedBy: null, providerMessageId: null });
  });

  it('gives the message back for a retry on a 500, and sends it on the next attempt: two calls in all', async () => {
    const l = licence();
    const id = await seed(idleQueues, l);
    fake.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });

    const first = await deliverMessage(deps(), channel, id, false);
    expect(first).toMatchObject({ outcome: 'retry' });
    expect(await message(id)).toMatchObject({ status: 'queued', lockedBy: null, providerMessageId: null });
    expect(await deliveryStatuses(l.licenseNo)).toEqual(['queued']);
    expect(fake.sms()).toHaveLength(0);

    const second = await deliverMessage(deps(), channel, id, false);
    expect(second.outcome).toBe('sent');
    expect(fake.requests).toHaveLength(2);
    expect(fake.sms()).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2, errorCode: null, providerMessageId: fake.sms()[0]!.sid });
  });

  it('treats 429 as transient, and fails a transient error on the last attempt', async () => {
    const id = await seed(idleQueues, licence());
    fake.queueReplies(
      { status: 429, body: { code: 20429, message: 'Too Many Requests', status: 429 } },
      { status: 503, body: { code: 20503, message: 'Service Unavailable', status: 503 } },
    );
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('retry');
    expect(await deliverMessage(deps(), channel, id, true)).toMatchObject({ outcome: 'failed' });
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: '20503' });
    expect(fake.requests).toHaveLength(2);
    expect(fake.sms()).toHaveLength(0);
  });

  it('sends from the messaging service when one is configured', async () => {
    const l = licence();
    const id = await seed(idleQueues, l);
    const viaService = twilioSender(
      {
        provider: 'twilio',
        accountSid: TEST_TWILIO.accountSid,
        authToken: TEST_TWILIO.authToken,
        from: undefined,
        messagingServiceSid: `MG${'0123456789abcdef'.repeat(2)}`,
        apiBaseUrl: fake.url,
      },
      STATUS_CALLBACK,
    );
    expect((await deliverMessage(deps(), smsChannel(viaService, limits()), id, false)).outcome).toBe('sent');
    const form = new URLSearchParams(fake.requests[0]!.body);
    expect(form.get('MessagingServiceSid')).toBe(`MG${'0123456789abcdef'.repeat(2)}`);
    expect(form.get('From')).toBeNull();
    expect(form.get('To')).toBe(l.phone);
    expect(form.get('StatusCallback')).toBe(STATUS_CALLBACK);
  });

  it('treats a provider that cannot be reached as transient', async () => {
    const gone = await fakeTwilio();
    await gone.close();
    const id = await seed(idleQueues, licence());
    const result = await deliverMessage(deps(), smsChannel(realSender(gone), limits()), id, false);
    expect(result.outcome).toBe('retry');
    expect(await message(id)).toMatchObject({ status: 'queued', lockedBy: null, providerMessageId: null });
  });

  it('sends nothing for a licence renewed after the scan: the message is cancelled', async () => {
    const l = licence();
    const id = await seed(idleQueues, l);
    expect(await upsert({ ...l, expiresOn: '2031-03-31' })).toMatchObject({ renewed: 1 });

    const result = await deliverMessage(deps(), channel, id, false);
    expect(['skipped', 'cancelled']).toContain(result.outcome);
    expect(fake.requests).toHaveLength(0);
    expect(await message(id)).toMatchObject({ status: 'cancelled', providerMessageId: null });
    expect(await deliveryStatuses(l.licenseNo)).toEqual(['cancelled']);
  });

  it('sends one SMS listing every licence of a holder due in one scan (three), with the link and phone once', async () => {
    const a = licence({ expiresOn: '2026-03-31' });
    const b = licence({ expiresOn: '2026-04-20', phone: a.phone });
    const c = licence({ expiresOn: '2026-03-05', phone: a.phone });
    const id = await seed(idleQueues, a, b, c);
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
    expect(fake.sms()).toHaveLength(1);
    const body = fake.sms()[0]!.body;
    for (const [l, date] of [[a, '2026-03-31'], [b, '2026-04-20'], [c, '2026-03-05']] as const) {
      expect(body).toContain(l.licenseNo);
      expect(body).toContain(date);
      expect(await deliveryStatuses(l.licenseNo)).toEqual(['sent']);
    }
    // The message's one renewal link, whose page lists the three, instead of the category's.
    const { linkToken } = await message(id);
    expect(body).toContain(`续证办理：${PUBLIC_BASE_URL}/r/${linkToken} `);
    expect(body).not.toContain(CATEGORY.renewalUrl);
    expect(body.split(CATEGORY.consultPhone)).toHaveLength(2);
  });

  it('fills {renewalLink} and {renewalToken} from the message’s own token, the same on a retry', async () => {
    const category = testCategory({
      code: 'link-sms',
      channels: ['sms'],
      smsTemplate: '【卢氏县政务服务】您的{licenseName}将于{expiresOn}到期，点击 {renewalLink} 办理（码{renewalToken}）',
    });
    await insertCategory(database.db, category);
    const id = await seed(idleQueues, licence({ categoryCode: category.code }));
    const { linkToken } = await message(id);
    expect(linkToken).toMatch(/^[A-Za-z0-9_-]{16}$/);
    fake.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('retry');
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
    const bodies = fake.requests.map((r) => new URLSearchParams(r.body).get('Body'));
    const expected = `【卢氏县政务服务】您的${category.name}将于2026-03-31到期，点击 ${PUBLIC_BASE_URL}/r/${linkToken} 办理（码${linkToken}）`;
    expect(bodies).toEqual([expected, expected]);
    expect(await message(id)).toMatchObject({ status: 'sent', body: expected, linkToken });
  });

  it('leaves a renewed licence out of a shared SMS and still sends the other', async () => {
    const renewed = licence({ expiresOn: '2026-03-20' });
    const due = licence({ expiresOn: '2026-04-10', phone: renewed.phone });
    const id = await seed(idleQueues, renewed, due);
    await upsert({ ...renewed, expiresOn: '2031-03-20' });

    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('sent');
    expect(fake.sms()).toHaveLength(1);
    const body = fake.sms()[0]!.body;
    expect(body).toContain(due.licenseNo);
    expect(body).not.toContain(renewed.licenseNo);
    expect(await deliveryStatuses(renewed.licenseNo)).toEqual(['cancelled']);
    expect(await deliveryStatuses(due.licenseNo)).toEqual(['sent']);
  });
});

describe('the SMS worker on BullMQ', () => {
  let fake: FakeTwilio;
  let queue: TestQueues;
  let queues: MessageQueues;
  let worker: Worker | undefined;

  beforeEach(async () => {
    fake = await fakeTwilio();
    queue = await freshMessageQueues();
    ({ queues } = queue);
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await queue.cleanup();
    await fake.close();
  });

  const others: Worker[] = [];
  afterEach(async () => {
    await Promise.all(others.splice(0).map((w) => w.close()));
  });

  function start(
    quietHours: { start: number; end: number } | null,
    { ratePerSecond, now, concurrency }: { ratePerSecond?: number; now?: () => Date; concurrency?: number } = {},
  ) {
    const workerConnection = redisConnection(queue.url);
    const started = startDeliveryWorker({
      job: sendSms,
      channel: smsChannel(realSender(fake), limits()),
      deps: { db: database.db, log, workerId: 'bull-1', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: PUBLIC_BASE_URL, now },
      connection: workerConnection,
      prefix: queue.prefix,
      concurrency: concurrency ?? (ratePerSecond === undefined ? 1 : 4),
      quietHours,
      timezone: 'Asia/Shanghai',
      ratePerSecond,
    });
    started.on('closed', () => void workerConnection.quit().catch(() => {}));
    if (worker) others.push(started);
    else worker = started;
    return started;
  }

  it('holds SMS_RATE_PER_SEC across workers: two workers at 4 a second send 10 SMS in three windows of a second', async () => {
    start(null, { ratePerSecond: 4 });
    start(null, { ratePerSecond: 4 });
    const licences = Array.from({ length: 10 }, () => licence({ expiresOn: '2026-04-05' }));
    await upsert(...licences);
    const scan = await runScan({ db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS }, { asOf: AS_OF, trigger: 'command' });
    expect(scan.messagesQueued).toBe(10);
    await until('ten SMS at the fake', () => fake.requests.length >= 10, 15_000);
    const arrivals = fake.requests.map((r) => r.at);
    // One limiter for both lets 4 through per window of a second, so 10 take three windows:
    // the last arrives nearly two seconds after the first. A limiter of 4 per worker would
    // let 8 through in the first window and the last 2 a second later; no limiter, all 10 at
    // once. No second holds more than two windows' worth.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(1_500);
    const busiestSecond = Math.max(...arrivals.map((t) => arrivals.filter((u) => u >= t && u < t + 1_000).length));
    expect(busiestSecond).toBeLessThanOrEqual(8);
    expect(new Set(fake.sms().map((m) => m.to)).size).toBe(10);
  });

  it('concurrent jobs share their statements: 24 SMS at concurrency 8 go out once each, claimed in fewer statements than messages', async () => {
    start(null, { concurrency: 8 });
    await upsert(...Array.from({ length: 24 }, () => licence({ expiresOn: '2026-04-05' })));
    const scan = await runScan({ db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS }, { asOf: AS_OF, trigger: 'command' });
    expect(scan.messagesQueued).toBe(24);
    const ids = (await database.db.selectFrom('outgoingMessages').select('id').where('scanId', '=', scan.id).execute()).map((m) => m.id);
    await until('24 messages sent', async () => (await Promise.all(ids.map(message))).every((m) => m?.status === 'sent'), 15_000);
    const messages = await Promise.all(ids.map(message));
    expect(fake.sms()).toHaveLength(24);
    expect(new Set(fake.sms().map((m) => m.sid))).toEqual(new Set(messages.map((m) => m.providerMessageId)));
    // Each claim statement takes messages under one token of its own (the ledger's claim events).
    const claims = await database.db
      .selectFrom('deliveryEvents')
      .innerJoin('deliveries', 'deliveries.id', 'deliveryEvents.deliveryId')
      .select('deliveryEvents.detail')
      .where('deliveries.messageId', 'in', ids)
      .where('deliveryEvents.cause', '=', 'claimed')
      .execute();
    expect(claims).toHaveLength(24);
    const statements = new Set(claims.map((c) => (c.detail as { worker: string }).worker)).size;
    expect(statements).toBeLessThan(24);
  });

  it('sends what a scan queued, once, even when the job is enqueued again or runs a second time', async () => {
    start(null);
    const l = licence();
    const id = await seed(queues, l);
    await until('the SMS at the fake', () => fake.sms().length === 1);
    const jobId = `sms-${id}`;
    await until('the job to complete', async () => (await queues.sms.getJob(jobId))?.finishedOn !== undefined);
    expect((await queues.sms.getJob(jobId))?.returnvalue).toMatchObject({ outcome: 'sent' });
    expect(await message(id)).toMatchObject({ status: 'sent', providerMessageId: fake.sms()[0]!.sid });

    // the same payload again: the job id is taken, nothing new runs
    await enqueue(queues.sms, sendSms, [{ messageId: id }]);
    // and a job that really runs a second time finds nothing to claim
    await (await queues.sms.getJob(jobId))!.remove();
    await enqueue(queues.sms, sendSms, [{ messageId: id }]);
    await until('the second run to complete', async () => {
      const job = await queues.sms.getJob(jobId);
      return job?.finishedOn !== undefined;
    });
    expect((await queues.sms.getJob(jobId))?.returnvalue).toEqual({ outcome: 'skipped' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.sms().map((s) => s.to)).toEqual([l.phone]);
    // The metric counts the send once, too: still once after the counters' next flush.
    await until('the send counted', async () => (await queues.counters.read()).get('messagesSent:sms') === 1);
    await new Promise((resolve) => setTimeout(resolve, COUNTERS_FLUSHED_MS));
    expect((await queues.counters.read()).get('messagesSent:sms')).toBe(1);
  });

  it('leaves a transient error to BullMQ’s backoff with the message given back, and fails a permanent one for good', async () => {
    start(null);
    fake.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });
    const transient = await seed(queues, licence());
    await until('the retry to be scheduled', async () => (await queues.sms.getJob(`sms-${transient}`))?.attemptsMade === 1);
    const retried = await queues.sms.getJob(`sms-${transient}`);
    expect(await retried!.getState()).toBe('delayed');
    expect(retried!.failedReason).toContain('20500');
    expect(await message(transient)).toMatchObject({ status: 'queued', errorCode: '20500', lockedBy: null });

    // Twilio names the number in some of its messages: the queue dashboard shows it masked.
    fake.queueReplies({ status: 400, body: { code: 21612, message: "The 'To' phone number: +8613800138000, is not currently reachable.", status: 400 } });
    const permanent = await seed(queues, licence({ phone: '13800138000' }));
    await until('the job to fail', async () => (await queues.sms.getJob(`sms-${permanent}`))?.getState().then((s) => s === 'failed') ?? false);
    const failed = await queues.sms.getJob(`sms-${permanent}`);
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toContain('21612');
    expect(failed!.failedReason).toContain('138****8000');
    expect(`${failed!.failedReason} ${(failed!.stacktrace ?? []).join(' ')}`).not.toContain('13800138000');
    expect(await message(permanent)).toMatchObject({ status: 'failed', errorCode: '21612' });
    // The worker's record of the failure opened the holder's follow-up; the retried one has none yet.
    const { rows: followUps } = await sql<{ reason: string }>`
      select f.reason from follow_ups f join reminders r on (r.license_id, r.expires_on) = (f.license_id, f.expires_on)
        join deliveries d on d.reminder_id = r.id where d.message_id in (${permanent}, ${transient})`.execute(database.db);
    expect(followUps).toEqual([{ reason: 'unreached' }]);
    expect(fake.requests).toHaveLength(2);
    expect(fake.sms()).toHaveLength(0);
    // Counted as failed once: the transient error is not a failure yet.
    await until('the failure counted', async () => (await queues.counters.read()).get('messagesFailed:sms') === 1);
    await new Promise((resolve) => setTimeout(resolve, COUNTERS_FLUSHED_MS));
    expect((await queues.counters.read()).get('messagesFailed:sms')).toBe(1);
    expect((await queues.counters.read()).get('messagesSent:sms')).toBeUndefined();
  });

  // docs/rules.md: no phone gets more than SMS_MAX_PER_RECIPIENT_PER_DAY SMS a day (default 3;
  // carriers block numbers that receive more); the rest waits for the next day.
  it('sends no phone more than 3 SMS a day; the 4th waits for the next day', async () => {
    start(null);
    const phone = '+8613900139000';
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await seed(queues, licence({ phone })));
    // Every job has run: three sent, and the fourth back on its queue, delayed to the next
    // Shanghai midnight, not failed.
    const states = async () => Promise.all(ids.map(async (id) => ((await message(id)).status === 'sent' ? 'sent' : await (await queues.sms.getJob(`sms-${id}`))!.getState())));
    await until('three sent and one delayed', async () => (await states()).sort().join() === 'delayed,sent,sent,sent');
    expect(fake.sms().filter((s) => s.to === phone)).toHaveLength(3);
    const held = [];
    for (const id of ids) if ((await message(id))?.status === 'queued') held.push(id);
    expect(held).toHaveLength(1);
    const job = await queues.sms.getJob(`sms-${held[0]}`);
    // Held untried: no attempt is counted against it.
    expect(await message(held[0]!)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(Math.abs(job!.timestamp + job!.delay - nextLocalMidnight('Asia/Shanghai', new Date()).getTime())).toBeLessThan(1_000);
  });

  it('at 23:30 Shanghai time with quiet hours 21:00-08:00, holds the job until 08:00 the next morning', async () => {
    // Tomorrow's 23:30 in Shanghai (15:30 UTC), so that the instant lies ahead of the real clock.
    const chosen = new Date(`${addDays(localDate('Asia/Shanghai'), 1)}T15:30:00Z`);
    start({ start: 21 * 60, end: 8 * 60 }, { now: () => chosen });
    const id = await seed(queues, licence());
    const job = async () => (await queues.sms.getJob(`sms-${id}`))!;
    await until('the job to be delayed', async () => (await (await job()).getState()) === 'delayed');
    const morning = new Date(chosen.getTime() + 8.5 * 3600_000); // 08:00 Shanghai, 00:00 UTC
    const delayedUntil = Date.now() + (await job()).delay;
    expect(Math.abs(delayedUntil - morning.getTime())).toBeLessThan(5_000);
    expect(fake.requests).toHaveLength(0);
    expect(await message(id)).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('in quiet hours, delays the job to their end and sends nothing', async () => {
    // quiet hours from 10 minutes ago to 2 hours from now, Shanghai time
    const minute = Math.floor(localSecondOfDay('Asia/Shanghai', new Date()) / 60);
    const quiet = { start: (minute + 1440 - 10) % 1440, end: (minute + 120) % 1440 };
    start(quiet);
    const id = await seed(queues, licence());
    const jobId = `sms-${id}`;
    await until('the job to be delayed', async () => (await queues.sms.getJob(jobId))?.getState().then((s) => s === 'delayed') ?? false);
    const job = await queues.sms.getJob(jobId);
    // it waits until the end of quiet hours (to the minute), about two hours
    expect(job!.delay).toBeGreaterThan(115 * 60_000);
    expect(job!.delay).toBeLessThanOrEqual(120 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await job!.getState()).toBe('delayed');
    expect(fake.requests).toHaveLength(0);
    expect(await message(id)).toMatchObject({ status: 'queued', attempts: 0 });
  });
});
