// Alibaba Cloud's delivery reports (SmsReport, HTTP batch push) through the API, on its real
// database: the token, the answer Alibaba Cloud expects, and that a report moves a message
// forward only, whatever order and however often it comes.
import { foundByOutId } from '@lr/sms';
import { insertCategory, type Database } from '@lr/db';
import { createLogger } from '@lr/log';
import { claimMessage, markSent, ALIYUN_API_ENV, TEST_ALIYUN_REPORT_TOKEN, testCategory, testLicense } from '@lr/testing';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type App, expectError, onlyDelivery, startTestApp, type TestApp } from './harness';

const TOKEN = TEST_ALIYUN_REPORT_TOKEN;
const REPORT_PATH = '/webhooks/aliyun/sms-report';
const TAKEN = { code: 0, msg: '接收成功' };
const WORKER = 'sms-worker-aliyun-test';
const LEASE = { leaseSeconds: 120, maxClaims: 8 };


let testApp: TestApp | undefined;
let app: App;
let db: Database;

/** licence number -> its SMS message: id, phone (E.164) and the BizId it is sent under */
const messages = new Map<string, { id: number; recipient: string; bizId: string }>();
const SENT = ['AL-DELIVERED', 'AL-UNDELIVERED', 'AL-REPEAT', 'AL-LATE', 'AL-BATCH-1', 'AL-BATCH-2', 'AL-BADTOKEN', 'AL-NOCODE', 'AL-FOUND', 'AL-FOREIGN'];
const SENDING = ['AL-EARLY', 'AL-EARLY-FAILED'];

beforeAll(async () => {
  testApp = await startTestApp(ALIYUN_API_ENV);
  ({ app } = testApp);
  db = testApp.database.db;
  await insertCategory(db, testCategory({ channels: ['sms'] }));
  const licences = [...SENT, ...SENDING];
  const batch = await app.inject({
    method: 'POST',
    url: '/v1/licenses/batch',
    headers: admin,
    payload: { licenses: licences.map((licenseNo, i) => testLicense({ licenseNo, phone: `137001370${String(i).padStart(2, '0')}`, expiresOn: '2026-03-31' })) },
  });
  expect(batch.json()).toMatchObject({ created: licences.length });
  const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf: '2026-03-01' } });
  expect(scan.json()).toMatchObject({ messagesQueued: licences.length });
  const rows = await db
    .selectFrom('outgoingMessages as m')
    .innerJoin('deliveries as d', 'd.messageId', 'm.id')
    .innerJoin('reminders as r', 'r.id', 'd.reminderId')
    .innerJoin('licenses as l', 'l.id', 'r.licenseId')
    .select(['m.id', 'm.recipient', 'l.licenseNo'])
    .execute();
  for (const { id, recipient, licenseNo } of rows) {
    // What the SMS worker does: it claims the message, Alibaba Cloud takes it (a BizId), the send is recorded.
    const bizId = `90${String(id).padStart(10, '0')}^0`;
    expect(await claimMessage(db, id, WORKER, LEASE)).toBeDefined();
    if (SENT.includes(licenseNo)) expect(await markSent(db, id, WORKER, { providerMessageId: bizId, body: 'sent text' })).toBeDefined();
    messages.set(licenseNo, { id, recipient, bizId });
  }
  expect(messages.size).toBe(licences.length);
});

afterAll(async () => {
  await testApp?.close();
});

function messageOf(licenseNo: string) {
  const message = messages.get(licenseNo);
  if (!message) throw new Error(`no message for ${licenseNo}`);
  return message;
}

/** One report as Alibaba Cloud pushes it, for a licence's SMS. */
function report(licenseNo: string, success: boolean, extra: Record<string, unknown> = {}) {
  const { id, recipient, bizId } = messageOf(licenseNo);
  return {
    phone_number: recipient.slice(3),
    send_time: '2026-03-01 09:30:00',
    report_time: '2026-03-01 09:30:05',
    success,
    err_code: success ? 'DELIVERED' : 'UNDELIV',
    err_msg: success ? '用户接收成功' : '用户状态异常',
    sms_size: '1',
    biz_id: bizId,
    out_id: String(id),
    ...extra,
  };
}

function push(reports: unknown, token = TOKEN, on: App = app): Promise<LightMyRequestResponse> {
  return on.inject({
    method: 'POST',
    url: `${REPORT_PATH}/${token}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof reports === 'string' ? reports : JSON.stringify(reports),
  });
}

function expectTaken(res: LightMyRequestResponse) {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toEqual(TAKEN);
}

const delivery = (licenseNo: string) => onlyDelivery(app, licenseNo);

/** The ledger's events of a licence's message. */
async function events(licenseNo: string) {
  return db
    .selectFrom('deliveryEvents as e')
    .innerJoin('deliveries as d', 'd.id', 'e.deliveryId')
    .select(['e.status', 'e.cause'])
    .where('d.messageId', '=', messageOf(licenseNo).id)
    .orderBy('e.id')
    .execute();
}

describe('POST /webhooks/aliyun/sms-report/{token}', () => {
  it('a successful report delivers the SMS, and is answered as Alibaba Cloud expects', async () => {
    expect(await delivery('AL-DELIVERED')).toMatchObject({ status: 'sent', deliveredAt: null, providerMessageId: messageOf('AL-DELIVERED').bizId });
    expectTaken(await push([report('AL-DELIVERED', true)]));
    const after = await delivery('AL-DELIVERED');
    expect(after).toMatchObject({ status: 'delivered', errorCode: null, reminderStatus: 'sent' });
    expect(Number.isNaN(Date.parse(String(after.deliveredAt)))).toBe(false);
  });

  it('a failed report makes the SMS undelivered, with the carrier code and what it means', async () => {
    expectTaken(await push([report('AL-UNDELIVERED', false)]));
    const after = await delivery('AL-UNDELIVERED');
    expect(after).toMatchObject({ status: 'undelivered', errorCode: 'UNDELIV', deliveredAt: null, reminderStatus: 'failed' });
    expect(after.errorMessage).toMatch(/^not delivered: the phone is suspended .*\(Alibaba Cloud UNDELIV: 用户状态异常\)$/);
  });

  it('a failed report without a code is undelivered as UNDELIV; success decides, not the code', async () => {
    expectTaken(await push([report('AL-NOCODE', false, { err_code: 'DELIVERED', err_msg: '' })]));
    expect(await delivery('AL-NOCODE')).toMatchObject({ status: 'undelivered', errorCode: 'UNDELIV' });
  });

  it('a report pushed again changes nothing, not even the ledger', async () => {
    const pushed = [report('AL-REPEAT', true)];
    expectTaken(await push(pushed));
    const first = await delivery('AL-REPEAT');
    const ledger = await events('AL-REPEAT');
    expect(first.status).toBe('delivered');
    expectTaken(await push(pushed));
    expectTaken(await push(pushed));
    expect(await delivery('AL-REPEAT')).toEqual(first);
    expect(await events('AL-REPEAT')).toEqual(ledger);
  });

  it('a late failure after delivery changes nothing: status never moves back', async () => {
    expectTaken(await push([report('AL-LATE', true)]));
    const delivered = await delivery('AL-LATE');
    expectTaken(await push([report('AL-LATE', false, { err_code: 'MK:0001' })]));
    expect(await delivery('AL-LATE')).toEqual(delivered);
    expect(delivered).toMatchObject({ status: 'delivered', errorCode: null });
  });

  it('one push carries many reports; one none of ours is dropped, the others applied', async () => {
    const stranger = { ...report('AL-BATCH-1', true), biz_id: '999999999999^0', out_id: '', phone_number: '13999999999' };
    expectTaken(await push([report('AL-BATCH-1', true), stranger, report('AL-BATCH-2', false, { err_code: 'MN:0017', err_msg: '' })]));
    expect(await delivery('AL-BATCH-1')).toMatchObject({ status: 'delivered' });
    const failed = await delivery('AL-BATCH-2');
    expect(failed).toMatchObject({ status: 'undelivered', errorCode: 'MN:0017' });
    expect(failed.errorMessage).toMatch(/number is not in use, suspended, switched off or unreachable .*\(Alibaba Cloud MN:0017\)$/);
    expect(await db.selectFrom('earlyReceipts').selectAll().execute()).toEqual([]);
  });

  it('a report for an SMS recorded by its OutId (found before sending again, no BizId) is applied by out_id', async () => {
    const { id } = messageOf('AL-FOUND');
    await db.updateTable('outgoingMessages').set({ providerMessageId: foundByOutId(id) }).where('id', '=', id).execute();
    expectTaken(await push([report('AL-FOUND', true)]));
    expect(await delivery('AL-FOUND')).toMatchObject({ status: 'delivered', providerMessageId: foundByOutId(id) });
  });

  it("a report of another system sharing the account, whose out_id is one of our ids but whose phone is not its SMS's, changes nothing", async () => {
    const { id } = messageOf('AL-FOREIGN');
    await db.updateTable('outgoingMessages').set({ providerMessageId: foundByOutId(id) }).where('id', '=', id).execute();
    // Another system's SMS: its own BizId and phone, an out_id that happens to be our message's id.
    expectTaken(await push([report('AL-FOREIGN', false, { biz_id: '777000000000000000^0', phone_number: '13999999999' })]));
    expect(await delivery('AL-FOREIGN')).toMatchObject({ status: 'sent', errorCode: null, providerMessageId: foundByOutId(id) });
    // One that names no phone at all: our id cannot be checked against it, so it is not taken for ours.
    expectTaken(await push([report('AL-FOREIGN', false, { biz_id: '777000000000000002^0', phone_number: undefined })]));
    expect(await delivery('AL-FOREIGN')).toMatchObject({ status: 'sent', errorCode: null, providerMessageId: foundByOutId(id) });
    // Ours, to its phone, still finds it.
    expectTaken(await push([report('AL-FOREIGN', true, { biz_id: '777000000000000001^0' })]));
    expect(await delivery('AL-FOREIGN')).toMatchObject({ status: 'delivered' });
  });

  it('a wrong or missing token is 403 and changes nothing, before the body is read', async () => {
    const pushed = [report('AL-BADTOKEN', true)];
    expectError(await push(pushed, 'aliyun-report-token-0123456789abcdeX'), 403, 'bad_token');
    expectError(await push(pushed, TOKEN.slice(0, -1)), 403, 'bad_token');
    expectError(await push(pushed, `${TOKEN}0`), 403, 'bad_token');
    // The token, not the body, is checked first: a bad body under a wrong token is still 403.
    expectError(await push('{not json', 'wrong-token'), 403, 'bad_token');
    expectError(await push(pushed, ''), 403, 'bad_token');
    expect(await delivery('AL-BADTOKEN')).toMatchObject({ status: 'sent', deliveredAt: null });
  });

  it('a body that is not an array of reports is 400, under the right token', async () => {
    expectError(await push('{not json'), 400);
    expectError(await push({ biz_id: '1', success: true }), 400);
    expectError(await push([{ success: true }]), 400);
    expectError(await push([{ biz_id: '1', success: 'maybe' }]), 400);
    expectTaken(await push([]));
  });

  it('a push over 64 KB is 413, as every webhook body (the contract caps them at 64 KB)', async () => {
    const one = { phone_number: '13800000000', send_time: '2026-12-01 08:00:00', report_time: '2026-12-01 08:00:05', success: true, err_code: 'DELIVERED', err_msg: '用户接收成功', sms_size: '1', biz_id: '900000000000000000^0', out_id: '1' };
    const reports = Array.from({ length: 400 }, () => one);
    expect(JSON.stringify(reports).length).toBeGreaterThan(64 * 1024);
    expectError(await push(reports), 413, 'body_too_large');
    expectTaken(await push(reports.slice(0, 100)));
  });

  describe('a report that comes before its send is recorded', () => {
    async function keptReceipts() {
      return db.selectFrom('earlyReceipts').select(['providerMessageId', 'status', 'errorCode']).execute();
    }

    it('is kept while its message (out_id) is being sent, and applied when the send is recorded', async () => {
      const { id, bizId } = messageOf('AL-EARLY');
      // Alibaba Cloud reports, but the worker has not recorded the BizId yet.
      expectTaken(await push([report('AL-EARLY', true)]));
      expect(await delivery('AL-EARLY')).toMatchObject({ status: 'sending', providerMessageId: null });
      expect(await keptReceipts()).toEqual([{ providerMessageId: bizId, status: 'delivered', errorCode: null }]);
      expect(await markSent(db, id, WORKER, { providerMessageId: bizId, body: 'sent text' })).toBeDefined();
      expect(await delivery('AL-EARLY')).toMatchObject({ status: 'delivered', providerMessageId: bizId });
      expect(await keptReceipts()).toEqual([]);
    });

    it('keeps a failure with its code and meaning too', async () => {
      const { id, bizId } = messageOf('AL-EARLY-FAILED');
      expectTaken(await push([report('AL-EARLY-FAILED', false, { err_code: 'EXPIRED', err_msg: '超时' })]));
      expect(await keptReceipts()).toEqual([{ providerMessageId: bizId, status: 'undelivered', errorCode: 'EXPIRED' }]);
      await markSent(db, id, WORKER, { providerMessageId: bizId, body: 'sent text' });
      const after = await delivery('AL-EARLY-FAILED');
      expect(after).toMatchObject({ status: 'undelivered', errorCode: 'EXPIRED' });
      expect(after.errorMessage).toMatch(/^not delivered in time: .*\(Alibaba Cloud EXPIRED: 超时\)$/);
    });
  });
});

describe('the receipt URL under other settings', () => {
  it('is 403 whatever the token when SMS_PROVIDER is not aliyun', async () => {
    const other = await startTestApp();
    try {
      expectError(await push([], TOKEN, other.app), 403, 'bad_token');
    } finally {
      await other.close();
    }
  });

  it('keeps the token out of the log: a push is logged with its counts, not its URL', async () => {
    const lines: string[] = [];
    const log = createLogger('api', 'info', { write: (line: string) => void lines.push(line) }, 'json');
    const logged = await startTestApp(ALIYUN_API_ENV, { log });
    try {
      expectTaken(await push([], TOKEN, logged.app));
      expectError(await push([], `${TOKEN}x`, logged.app), 403, 'bad_token');
      expect(lines.some((line) => line.includes('Alibaba Cloud delivery receipts'))).toBe(true);
      // The line docs/operations.md tells an operator to look for.
      expect(lines.some((line) => line.includes('Alibaba Cloud receipt push with a wrong token: 403'))).toBe(true);
      expect(lines.filter((line) => line.includes(TOKEN))).toEqual([]);
    } finally {
      await logged.close();
    }
  });

  it('is never rate limited: Alibaba Cloud pushes in bursts from a few addresses', async () => {
    const limited = await startTestApp({ ...ALIYUN_API_ENV, RATE_LIMIT_PER_MINUTE: '3' });
    try {
      for (let i = 0; i < 6; i++) expectTaken(await push([], TOKEN, limited.app));
      // Another route from the same address is limited as always.
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push((await limited.app.inject({ method: 'GET', url: '/v1/categories', headers: admin })).statusCode);
      expect(answers).toContain(429);
    } finally {
      await limited.close();
    }
  });
});
