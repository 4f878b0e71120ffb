import { claimMessage, markSent, TEST_TWILIO, testLicense, type TestDatabase } from '@lr/testing';
import { SignJWT, UnsecuredJWT } from 'jose';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, ADMIN_KEY, type App, categoryBody, expectErrorShape, INBOX_SECRET, onlyDelivery, startTestApp, type TestApp } from './harness';

const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';
const STATUS_PATH = '/webhooks/twilio/status';

let testApp: TestApp | undefined;
let database: TestDatabase;
let app: App;

beforeAll(async () => {
  testApp = await startTestApp({
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: TEST_TWILIO.accountSid,
    TWILIO_AUTH_TOKEN: TEST_TWILIO.authToken,
    TWILIO_FROM: TEST_TWILIO.from,
    PUBLIC_BASE_URL,
  });
  ({ app, database } = testApp);
});

afterAll(async () => {
  await testApp?.close();
});

// ---- Twilio status callbacks ---------------------------------------------------------------

describe('POST /webhooks/twilio/status', () => {
  /** licence number -> the MessageSid its (sent) SMS carries */
  const sids = new Map<string, string>();
  const licences = ['WH-DELIVER', 'WH-BADSIG', 'WH-REPLAY', 'WH-LATE', 'WH-UNDELIVERED', 'WH-OTHERURL'];

  beforeAll(async () => {
    const category = await app.inject({
      method: 'POST',
      url: '/v1/categories',
      headers: admin,
      payload: categoryBody('food-business', { channels: ['sms'] }),
    });
    expect(category.statusCode, category.body).toBe(201);
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/licenses/batch',
      headers: admin,
      payload: {
        licenses: licences.map((licenseNo, i) => testLicense({ licenseNo, phone: `1380013800${i}`, expiresOn: '2026-03-31' })),
      },
    });
    expect(batch.json()).toMatchObject({ created: licences.length });
    const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf: '2026-03-01' } });
    expect(scan.json()).toMatchObject({ messagesQueued: licences.length });

    // What the SMS worker would have done: the provider took each message and gave it a sid.
    const rows = await database.db
      .selectFrom('outgoingMessages as m')
      .innerJoin('deliveries as d', 'd.messageId', 'm.id')
      .innerJoin('reminders as r', 'r.id', 'd.reminderId')
      .innerJoin('licenses as l', 'l.id', 'r.licenseId')
      .select(['m.id', 'l.licenseNo'])
      .execute();
    for (const { id, licenseNo } of rows) {
      const sid = `SM${String(id).padStart(32, '0')}`;
      sids.set(licenseNo, sid);
      await database.db
        .updateTable('outgoingMessages')
        .set({ status: 'sent', providerMessageId: sid, sentAt: new Date(), body: 'sent text' })
        .where('id', '=', id)
        .execute();
      await database.db.updateTable('deliveries').set({ status: 'sent' }).where('messageId', '=', id).execute();
    }
    expect(sids.size).toBe(licences.length);
  });

  function sidOf(licenseNo: string): string {
    const sid = sids.get(licenseNo);
    if (!sid) throw new Error(`no message for ${licenseNo}`);
    return sid;
  }

  /** Twilio's callback parameters for one status of one message. */
  function callback(sid: string, status: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      AccountSid: TEST_TWILIO.accountSid,
      ApiVersion: '2010-04-01',
      From: TEST_TWILIO.from,
      To: '+8613800138000',
      MessageSid: sid,
      SmsSid: sid,
      MessageStatus: status,
      SmsStatus: status,
      ...extra,
    };
  }

  function sign(params: Record<string, string>, url = PUBLIC_BASE_URL + STATUS_PATH, token = TEST_TWILIO.authToken): string {
    return twilio.getExpectedTwilioSignature(token, url, params);
  }

  /** Posts a callback form; `signature: null` sends no X-Twilio-Signature header. */
  function send(params: Record<string, string>, signature: string | null = sign(params)) {
    return app.inject({
      method: 'POST',
      url: STATUS_PATH,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signature !== null && { 'x-twilio-signature': signature }),
      },
      payload: new URLSearchParams(params).toString(),
    });
  }

  const delivery = (licenseNo: string) => onlyDelivery(app, licenseNo);

  it('a correctly signed "delivered" moves the delivery to delivered with deliveredAt', async () => {
    const sid = sidOf('WH-DELIVER');
    expect(await delivery('WH-DELIVER')).toMatchObject({ status: 'sent', deliveredAt: null, providerMessageId: sid });
    const res = await send(callback(sid, 'delivered'));
    expect(res.statusCode, res.body).toBe(204);
    const after = await delivery('WH-DELIVER');
    expect(after).toMatchObject({ status: 'delivered', providerMessageId: sid, reminderStatus: 'sent' });
    expect(Number.isNaN(Date.parse(String(after.deliveredAt)))).toBe(false);
  });

  it('a bad signature is refused with 403 and changes nothing', async () => {
    const sid = sidOf('WH-BADSIG');
    const params = callback(sid, 'delivered');
    expectErrorShape(await send(params, sign(params, PUBLIC_BASE_URL + STATUS_PATH, 'another-auth-token-0123456789ab')), 403, 'bad_signature');
    expectErrorShape(await send(params, 'not-a-signature'), 403);
    expectErrorShape(await send(params, null), 403);
    // a signature of other parameters (the status edited in flight)
    expectErrorShape(await send(params, sign(callback(sid, 'undelivered'))), 403);
    expect(await delivery('WH-BADSIG')).toMatchObject({ status: 'sent', deliveredAt: null });
  });

  it('a signature over another URL than PUBLIC_BASE_URL + path is refused', async () => {
    const params = callback(sidOf('WH-OTHERURL'), 'delivered');
    expectErrorShape(await send(params, sign(params, `http://127.0.0.1:3000${STATUS_PATH}`)), 403);
    expectErrorShape(await send(params, sign(params, `${PUBLIC_BASE_URL}${STATUS_PATH}?x=1`)), 403);
    expect(await delivery('WH-OTHERURL')).toMatchObject({ status: 'sent' });
  });

  it('an unknown MessageSid with a valid signature is 404, and nothing is kept', async () => {
    expectErrorShape(await send(callback(`SM${'f'.repeat(32)}`, 'delivered')), 404, 'unknown_message');
    expect(await keptReceipts()).toEqual([]);
  });

  it('a replayed callback is accepted again and changes nothing', async () => {
    const sid = sidOf('WH-REPLAY');
    const params = callback(sid, 'delivered');
    expect((await send(params)).statusCode).toBe(204);
    const first = await delivery('WH-REPLAY');
    expect(first.status).toBe('delivered');
    const replay = await send(params);
    expect(replay.statusCode, replay.body).toBe(204);
    const second = await delivery('WH-REPLAY');
    expect(second).toEqual(first);
  });

  it('a late "sent" or "undelivered" after "delivered" changes nothing', async () => {
    const sid = sidOf('WH-LATE');
    expect((await send(callback(sid, 'delivered'))).statusCode).toBe(204);
    const delivered = await delivery('WH-LATE');
    expect((await send(callback(sid, 'sent'))).statusCode).toBe(204);
    expect((await send(callback(sid, 'undelivered', { ErrorCode: '30003' }))).statusCode).toBe(204);
    expect((await send(callback(sid, 'failed', { ErrorCode: '30008' }))).statusCode).toBe(204);
    expect(await delivery('WH-LATE')).toEqual(delivered);
    expect(delivered).toMatchObject({ status: 'delivered', errorCode: null });
  });

  it('"undelivered" with an ErrorCode moves a sent delivery to undelivered and keeps the code', async () => {
    const sid = sidOf('WH-UNDELIVERED');
    expect((await send(callback(sid, 'sending'))).statusCode).toBe(204);
    expect(await delivery('WH-UNDELIVERED')).toMatchObject({ status: 'sent' });
    expect((await send(callback(sid, 'undelivered', { ErrorCode: '30003' }))).statusCode).toBe(204);
    expect(await delivery('WH-UNDELIVERED')).toMatchObject({ status: 'undelivered', errorCode: '30003', deliveredAt: null, reminderStatus: 'failed' });
    expect((await send(callback(sid, 'delivered'))).statusCode).toBe(204);
    expect(await delivery('WH-UNDELIVERED')).toMatchObject({ status: 'undelivered', deliveredAt: null });
  });

  /** The receipts kept for sends not recorded yet (early_receipts). */
  function keptReceipts() {
    return database.db.selectFrom('earlyReceipts').select(['providerMessageId', 'status', 'errorCode']).orderBy('receivedAt').execute();
  }

  describe('a callback that comes before its send is recorded', () => {
    const WORKER = 'sms-worker-early';
    /** licence number -> its message, claimed by a worker that has not recorded the send yet */
    const sending = new Map<string, { id: number; recipient: string; sid: string }>();
    const early = ['WH-EARLY-DELIVERED', 'WH-EARLY-UNDELIVERED', 'WH-EARLY-SENT', 'WH-EARLY-OLD'];

    beforeAll(async () => {
      const batch = await app.inject({
        method: 'POST',
        url: '/v1/licenses/batch',
        headers: admin,
        payload: { licenses: early.map((licenseNo, i) => testLicense({ licenseNo, phone: `1390013900${i}`, expiresOn: '2026-05-31' })) },
      });
      expect(batch.json()).toMatchObject({ created: early.length });
      const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf: '2026-05-01' } });
      expect(scan.json()).toMatchObject({ messagesQueued: early.length });
      const rows = await database.db
        .selectFrom('outgoingMessages as m')
        .innerJoin('deliveries as d', 'd.messageId', 'm.id')
        .innerJoin('reminders as r', 'r.id', 'd.reminderId')
        .innerJoin('licenses as l', 'l.id', 'r.licenseId')
        .select(['m.id', 'm.recipient', 'l.licenseNo'])
        .where('l.licenseNo', 'in', early)
        .execute();
      for (const { id, recipient, licenseNo } of rows) {
        // What the SMS worker does first: it claims the message, then calls Twilio.
        expect(await claimMessage(database.db, id, WORKER, { leaseSeconds: 120, maxClaims: 8 })).toBeDefined();
        sending.set(licenseNo, { id, recipient, sid: `SM${'e'.repeat(28)}${String(id).padStart(4, '0')}` });
      }
      expect(sending.size).toBe(early.length);
    });

    function underWay(licenseNo: string) {
      const message = sending.get(licenseNo);
      if (!message) throw new Error(`no message for ${licenseNo}`);
      return message;
    }

    /** What the worker does once Twilio has answered: records the send with the sid, under its claim. */
    async function record(licenseNo: string) {
      const { id, sid } = underWay(licenseNo);
      expect(await markSent(database.db, id, WORKER, { providerMessageId: sid, body: 'sent text' })).toBeDefined();
    }

    it('"delivered" is kept (202) while the send is under way, and the delivery is delivered once the send is recorded', async () => {
      const { sid, recipient } = underWay('WH-EARLY-DELIVERED');
      const res = await send(callback(sid, 'delivered', { To: recipient }));
      expect(res.statusCode, res.body).toBe(202);
      expect(await delivery('WH-EARLY-DELIVERED')).toMatchObject({ status: 'sending', providerMessageId: null });
      expect(await keptReceipts()).toEqual([{ providerMessageId: sid, status: 'delivered', errorCode: null }]);

      await record('WH-EARLY-DELIVERED');
      const after = await delivery('WH-EARLY-DELIVERED');
      expect(after).toMatchObject({ status: 'delivered', providerMessageId: sid, reminderStatus: 'sent' });
      expect(Number.isNaN(Date.parse(String(after.deliveredAt)))).toBe(false);
      expect(await keptReceipts()).toEqual([]);
      // A callback after the record goes straight to the message, as always.
      expect((await send(callback(sid, 'delivered', { To: recipient }))).statusCode).toBe(204);
    });

    it('"undelivered" with its ErrorCode is kept, and applied with the code when the send is recorded', async () => {
      const { sid, recipient } = underWay('WH-EARLY-UNDELIVERED');
      expect((await send(callback(sid, 'sent', { To: recipient }))).statusCode).toBe(202);
      expect((await send(callback(sid, 'undelivered', { To: recipient, ErrorCode: '30003' }))).statusCode).toBe(202);
      // Twilio may post the same callback again: kept once.
      expect((await send(callback(sid, 'undelivered', { To: recipient, ErrorCode: '30003' }))).statusCode).toBe(202);
      expect(await keptReceipts()).toEqual([{ providerMessageId: sid, status: 'undelivered', errorCode: '30003' }]);

      await record('WH-EARLY-UNDELIVERED');
      expect(await delivery('WH-EARLY-UNDELIVERED')).toMatchObject({ status: 'undelivered', errorCode: '30003', deliveredAt: null, reminderStatus: 'failed' });
      expect(await keptReceipts()).toEqual([]);
    });

    it('a status that ends nothing ("sent") is answered 202 and nothing is kept; the send is recorded as sent', async () => {
      const { sid, recipient } = underWay('WH-EARLY-SENT');
      expect((await send(callback(sid, 'sent', { To: recipient }))).statusCode).toBe(202);
      expect(await keptReceipts()).toEqual([]);
      await record('WH-EARLY-SENT');
      expect(await delivery('WH-EARLY-SENT')).toMatchObject({ status: 'sent', providerMessageId: sid });
    });

    it('is 404 and keeps nothing for a phone no SMS is being sent to, or with no To; a bad signature is 403 and keeps nothing', async () => {
      const unknown = `SM${'d'.repeat(32)}`;
      expectErrorShape(await send(callback(unknown, 'delivered', { To: '+8613700137000' })), 404, 'unknown_message');
      const { To: _, ...withoutTo } = callback(unknown, 'delivered');
      expectErrorShape(await send(withoutTo), 404, 'unknown_message');
      const params = callback(unknown, 'delivered', { To: underWay('WH-EARLY-OLD').recipient });
      expectErrorShape(await send(params, sign(params, PUBLIC_BASE_URL + STATUS_PATH, 'another-auth-token-0123456789ab')), 403, 'bad_signature');
      expect(await keptReceipts()).toEqual([]);
    });

    it('a receipt whose send is never recorded is dropped after a day, when another is kept', async () => {
      const { recipient } = underWay('WH-EARLY-OLD');
      const lost = `SM${'c'.repeat(32)}`;
      expect((await send(callback(lost, 'delivered', { To: recipient }))).statusCode).toBe(202);
      await database.db.updateTable('earlyReceipts').set({ receivedAt: new Date(Date.now() - 25 * 3600_000) }).where('providerMessageId', '=', lost).execute();
      const next = `SM${'b'.repeat(32)}`;
      expect((await send(callback(next, 'failed', { To: recipient, ErrorCode: '30008' }))).statusCode).toBe(202);
      expect(await keptReceipts()).toEqual([{ providerMessageId: next, status: 'failed', errorCode: '30008' }]);
    });
  });

  it('a callback without MessageSid is a 400 in the error shape', async () => {
    const params = { MessageStatus: 'delivered', AccountSid: TEST_TWILIO.accountSid };
    expectErrorShape(await send(params), 400);
  });
});

// ---- the licensee's inbox ------------------------------------------------------------------

describe('the in-app inbox', () => {
  const secret = new TextEncoder().encode(INBOX_SECRET);
  const ALICE = 'platform-user-alice';
  const BOB = 'platform-user-bob';
  /** inbox ids in insertion order */
  const aliceIds: number[] = [];
  let bobId: number;

  function token(user: string, key: Uint8Array = secret, expires: string | number = '5m') {
    return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime(expires).sign(key);
  }

  async function inbox(bearer: string, query = '') {
    return app.inject({ method: 'GET', url: `/v1/inbox${query}`, headers: { authorization: `Bearer ${bearer}` } });
  }

  async function markRead(bearer: string, id: number) {
    return app.inject({ method: 'POST', url: `/v1/inbox/${id}/read`, headers: { authorization: `Bearer ${bearer}` } });
  }

  beforeAll(async () => {
    const scan = await database.db.insertInto('scans').values({ asOf: '2026-03-01', trigger: 'command' }).returning('id').executeTakeFirstOrThrow();
    const write = async (user: string, n: number) => {
      const message = await database.db
        .insertInto('outgoingMessages')
        .values({ scanId: scan.id, channel: 'push', recipient: `${user}-${n}`, status: 'sent' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const row = await database.db
        .insertInto('inboxMessages')
        .values({
          messageId: message.id,
          platformUserId: user,
          title: `食品经营许可证即将到期 ${n}`,
          body: `您的食品经营许可证（JY${n}）将于2026-03-31到期`,
          url: 'https://www.hnzwfw.gov.cn/renew/food-business',
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    };
    for (let n = 1; n <= 5; n++) aliceIds.push(await write(ALICE, n));
    bobId = await write(BOB, 1);
  });

  it('lists the licensee’s own messages newest first, with the unread count, paged by cursor', async () => {
    const bearer = await token(ALICE);
    const all = await inbox(bearer);
    expect(all.statusCode, all.body).toBe(200);
    const body = all.json<{ items: { id: number; title: string; readAt: string | null }[]; nextCursor: string | null; unread: number }>();
    expect(body.items.map((m) => m.id)).toEqual([...aliceIds].reverse());
    expect(body.items.every((m) => m.readAt === null)).toBe(true);
    expect(body.items[0]).toMatchObject({ title: '食品经营许可证即将到期 5', url: 'https://www.hnzwfw.gov.cn/renew/food-business' });
    expect(body.unread).toBe(5);
    expect(body.nextCursor).toBeNull();
    expect(all.body).not.toContain(BOB);

    const pages: number[][] = [];
    let cursor: string | null = null;
    do {
      const res = await inbox(bearer, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const page: { items: { id: number }[]; nextCursor: string | null; unread: number } = res.json();
      expect(page.unread).toBe(5);
      pages.push(page.items.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor !== null && pages.length < 10);
    expect(pages).toEqual([
      [aliceIds[4], aliceIds[3]],
      [aliceIds[2], aliceIds[1]],
      [aliceIds[0]],
    ]);

    const bob = (await inbox(await token(BOB))).json<{ items: { id: number }[]; unread: number }>();
    expect(bob.items.map((m) => m.id)).toEqual([bobId]);
    expect(bob.unread).toBe(1);
  });

  it('marking a message read sets readAt and lowers the unread count; marking it again keeps the first readAt', async () => {
    const bearer = await token(ALICE);
    const id = aliceIds[1]!;
    const res = await markRead(bearer, id);
    expect(res.statusCode, res.body).toBe(200);
    const read = res.json<{ id: number; readAt: string | null }>();
    expect(read.id).toBe(id);
    expect(read.readAt).not.toBeNull();

    const after = (await inbox(bearer)).json<{ items: { id: number; readAt: string | null }[]; unread: number }>();
    expect(after.unread).toBe(4);
    expect(after.items.find((m) => m.id === id)?.readAt).toBe(read.readAt);
    expect(after.items.filter((m) => m.readAt !== null).map((m) => m.id)).toEqual([id]);

    const again = await markRead(bearer, id);
    expect(again.statusCode).toBe(200);
    expect(again.json().readAt).toBe(read.readAt);
    expect((await inbox(bearer)).json().unread).toBe(4);
  });

  it('someone else’s message, or one that does not exist, is 404 and stays unread', async () => {
    expectErrorShape(await markRead(await token(ALICE), bobId), 404, 'not_found');
    expectErrorShape(await markRead(await token(ALICE), 999_999), 404, 'not_found');
    expect((await inbox(await token(BOB))).json()).toMatchObject({ unread: 1, items: [{ id: bobId, readAt: null }] });
  });

  it('refuses tokens that are expired, signed with another secret, without exp or sub, or not HS256', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectErrorShape(await inbox(await token(ALICE, secret, now - 60)), 401, 'unauthorized');
    expectErrorShape(await inbox(await token(ALICE, new TextEncoder().encode('another-secret-of-the-platform-0123456789'))), 401, 'unauthorized');
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ALICE).sign(secret);
    expectErrorShape(await inbox(noExp), 401, 'unauthorized');
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(secret);
    expectErrorShape(await inbox(noSub), 401, 'unauthorized');
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject(ALICE).setExpirationTime('5m').sign(secret);
    expectErrorShape(await inbox(hs512), 401, 'unauthorized');
    const unsecured = new UnsecuredJWT({}).setSubject(ALICE).setExpirationTime('5m').encode();
    expectErrorShape(await inbox(unsecured), 401, 'unauthorized');
    expectErrorShape(await markRead(await token(ALICE, secret, now - 60), aliceIds[0]!), 401);
    expect((await inbox(await token(ALICE))).json().items.find((m: { id: number }) => m.id === aliceIds[0])?.readAt).toBeNull();
  });

  it('an API key, even the admin key, does not open the inbox; no token is 401', async () => {
    expectErrorShape(await inbox(ADMIN_KEY), 401, 'unauthorized');
    expectErrorShape(await app.inject({ method: 'GET', url: '/v1/inbox' }), 401, 'unauthorized');
    expectErrorShape(await app.inject({ method: 'GET', url: '/v1/inbox', headers: { authorization: `Basic ${Buffer.from(`a:${ADMIN_KEY}`).toString('base64')}` } }), 401);
    expectErrorShape(await app.inject({ method: 'POST', url: `/v1/inbox/${aliceIds[0]}/read`, headers: admin }), 401);
  });

  it('a bad cursor or limit is 400', async () => {
    const bearer = await token(ALICE);
    expectErrorShape(await inbox(bearer, '?cursor=not-a-cursor!'), 400);
    expectErrorShape(await inbox(bearer, '?limit=0'), 400);
    expectErrorShape(await inbox(bearer, '?limit=1001'), 400);
  });
});
