import { createApiKey, markFailed, suppressPhone } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import { claimMessage, TEST_RESIDENT_ID } from '@lr/testing';
import { SignJWT } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, INBOX_SECRET, startTestApp, type App, type TestApp } from './harness';

/**
 * "Phones are masked in every response (138****5678) except GET /v1/licenses/{id}/contact,
 * whose reads are audited. Id numbers are never shown whole." One holder's phone and id
 * number are put everywhere a response could carry them (the licence, its reminders, a
 * provider's error, a suppression, a follow-up's note, the audit log), then every route is read.
 */
const PHONE = '13812345678';
const OTHER_PHONE = '13987654321';
const MASKED = '138****5678';
/** any run of the phone's or id number's hidden digits, however the answer writes them */
const LEAKS = [/12345678/, /87654321/, /1234-5678/, /1234 5678/, new RegExp(TEST_RESIDENT_ID.slice(3, 14))];

let testApp: TestApp;
let app: App;
let viewer: Record<string, string>;
let operator: Record<string, string>;
let licenseId: number;
let followUpId: number;
let actionAnswer: string;

function get(url: string, headers: Record<string, string> = viewer) {
  return app.inject({ method: 'GET', url, headers });
}

function expectNoLeak(body: string, what: string) {
  for (const leak of LEAKS) expect(body, what).not.toMatch(leak);
}

beforeAll(async () => {
  testApp = await startTestApp();
  app = testApp.app;
  const { db } = testApp.database;
  viewer = auth((await createApiKey(db, 'county office', 'viewer')).key);
  operator = auth((await createApiKey(db, 'service centre', 'operator')).key);
  const category = await app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody('food', { channels: ['sms'] }) });
  expect(category.statusCode, category.body).toBe(201);
  const today = localDate('Asia/Shanghai');
  const licence = (licenseNo: string, phone: string) => ({
    categoryCode: 'food',
    licenseNo,
    holderName: '王小明',
    holderType: 'individual',
    holderIdNo: TEST_RESIDENT_ID,
    phone,
    platformUserId: licenseNo === 'PD-1' ? null : `app-${licenseNo}`,
    regionCode: '411224',
    validFrom: '2020-01-01',
    expiresOn: addDays(today, 20),
  });
  const batch = await app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: [licence('PD-1', PHONE), licence('PD-2', OTHER_PHONE)] } });
  expect(batch.statusCode, batch.body).toBe(200);
  licenseId = (await db.selectFrom('licenses').select('id').where('licenseNo', '=', 'PD-1').executeTakeFirstOrThrow()).id;
  const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: {} });
  expect(scan.statusCode, scan.body).toBe(200);

  // Twilio names the number in some of its errors; the SMS fails with it.
  const { rows } = await sql<{ id: number }>`
    select m.id from outgoing_messages m join deliveries d on d.message_id = m.id join reminders r on r.id = d.reminder_id
     where r.license_id = ${licenseId} and m.channel = 'sms'`.execute(db);
  const claimed = await claimMessage(db, rows[0]!.id, 'test-worker', { leaseSeconds: 120, maxClaims: 8 });
  await markFailed(db, rows[0]!.id, claimed!.message.lockedBy!, {
    code: '21612',
    message: `The 'To' phone number: +86${PHONE}, is not currently reachable using the 'From' phone number`,
  });
  await suppressPhone(db, { phone: `+86${OTHER_PHONE}`, errorCode: '21610', reason: 'unsubscribed', messageId: null });

  // The day's scan again opens the follow-up of the holder the failed SMS left unreached.
  expect((await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: {} })).statusCode).toBe(200);
  // The failed SMS leaves the holder unreached: staff note what they did, phones and all.
  const followUps = await get('/v1/follow-ups?reason=unreached', operator);
  expect(followUps.statusCode, followUps.body).toBe(200);
  followUpId = followUps.json().items.find((f: { licenseId: number }) => f.licenseId === licenseId).id;
  const action = await app.inject({
    method: 'POST',
    url: `/v1/follow-ups/${followUpId}/actions`,
    headers: operator,
    payload: { kind: 'call', result: 'unreachable', note: `打了${PHONE}和 +86 139 8765 4321 都没人接，身份证${TEST_RESIDENT_ID}` },
  });
  expect(action.statusCode, action.body).toBe(201);
  actionAnswer = action.body;
});

afterAll(async () => {
  await testApp?.close();
});

describe('phones in responses', () => {
  it('GET /v1/licenses and GET /v1/licenses/{id} show the phone masked to a viewer, and the id number masked', async () => {
    const list = await get('/v1/licenses?licenseNo=PD-1');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().items).toEqual([expect.objectContaining({ id: licenseId, phone: MASKED, holderIdNo: '411***********' + TEST_RESIDENT_ID.slice(-4) })]);
    expectNoLeak(list.body, 'GET /v1/licenses');

    const one = await get(`/v1/licenses/${licenseId}`);
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toMatchObject({ phone: MASKED, licenseNo: 'PD-1' });
    expectNoLeak(one.body, 'GET /v1/licenses/{id}');
  });

  it("a reminder's delivery shows the provider's error with the phone masked", async () => {
    const res = await get(`/v1/licenses/${licenseId}`);
    const sms = res.json().reminders.flatMap((r: { deliveries: { channel: string }[] }) => r.deliveries).find((d: { channel: string }) => d.channel === 'sms');
    expect(sms).toMatchObject({ status: 'failed', errorCode: '21612', errorMessage: `The 'To' phone number: ${MASKED}, is not currently reachable using the 'From' phone number` });
    const reminders = await get('/v1/reminders?licenseNo=PD-1');
    expect(reminders.body).toContain(MASKED);
    expectNoLeak(reminders.body, 'GET /v1/reminders');
  });

  it('a suppression shows its phone masked, read or cleared', async () => {
    const read = await get(`/v1/suppressions/${OTHER_PHONE}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toMatchObject({ phone: '139****4321', errorCode: '21610' });
    const cleared = await app.inject({ method: 'DELETE', url: `/v1/suppressions/${OTHER_PHONE}`, headers: operator });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json()).toMatchObject({ cleared: { phone: '139****4321' } });
  });

  it("a follow-up's note keeps no phone or id number whole, in the follow-up and in the audit log", async () => {
    expectNoLeak(actionAnswer, 'POST /v1/follow-ups/{id}/actions');
    const one = await get(`/v1/follow-ups/${followUpId}`);
    expect(one.json().actions[0].note).toBe(`打了${MASKED}和 139****4321 都没人接，身份证411***********${TEST_RESIDENT_ID.slice(-4)}`);
    const audit = await get('/v1/audit?action=follow-up.action', admin);
    expect(audit.json().items).toHaveLength(1);
    expectNoLeak(audit.body, 'GET /v1/audit');
  });

  it('no route a key can read carries the phone or the id number whole', async () => {
    const inboxToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('app-PD-2')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(INBOX_SECRET));
    const reads: [string, Record<string, string>][] = [
      ['/v1/licenses', viewer],
      ['/v1/licenses?limit=1000', admin],
      [`/v1/licenses/${licenseId}`, admin],
      ['/v1/reminders?limit=1000', admin],
      ['/v1/follow-ups', operator],
      [`/v1/follow-ups/${followUpId}`, operator],
      ['/v1/follow-ups.csv', operator],
      ['/v1/ledger.csv', operator],
      ['/v1/audit?limit=1000', admin],
      ['/v1/scans', viewer],
      ['/v1/categories', viewer],
      ['/v1/inbox', auth(inboxToken)],
    ];
    for (const [url, headers] of reads) {
      const res = await get(url, headers);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      expectNoLeak(res.body, url);
    }
  });

  it('GET /v1/licenses/{id}/contact alone gives the phone whole, and each read is audited', async () => {
    const before = await testApp.database.db.selectFrom('auditLog').select('id').where('action', '=', 'licenses.contact.read').execute();
    const contact = await get(`/v1/licenses/${licenseId}/contact`, operator);
    expect(contact.statusCode, contact.body).toBe(200);
    expect(contact.json()).toEqual({ phone: `+86${PHONE}`, platformUserId: null });
    const after = await testApp.database.db.selectFrom('auditLog').select(['actor', 'target']).where('action', '=', 'licenses.contact.read').execute();
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toEqual({ actor: 'service centre', target: `license:${licenseId}` });
  });

  it('the same batch sent again still counts as unchanged: the client keeps its own full phones', async () => {
    const stored = await testApp.database.db.selectFrom('licenses').select('updatedAt').where('id', '=', licenseId).executeTakeFirstOrThrow();
    const row = (await get(`/v1/licenses/${licenseId}`, admin)).json();
    const again = await app.inject({
      method: 'POST',
      url: '/v1/licenses/batch',
      headers: admin,
      payload: {
        licenses: [
          {
            categoryCode: row.categoryCode,
            licenseNo: row.licenseNo,
            holderName: row.holderName,
            holderType: row.holderType,
            holderIdNo: TEST_RESIDENT_ID,
            phone: `+86 ${PHONE}`,
            platformUserId: row.platformUserId,
            regionCode: row.regionCode,
            validFrom: row.validFrom,
            expiresOn: row.expiresOn,
          },
        ],
      },
    });
    expect(again.json()).toEqual({ created: 0, updated: 0, renewed: 0, unchanged: 1 });
    expect(await testApp.database.db.selectFrom('licenses').select('updatedAt').where('id', '=', licenseId).executeTakeFirstOrThrow()).toEqual(stored);
  });
});
