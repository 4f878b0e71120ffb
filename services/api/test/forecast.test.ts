import { createApiKey, revokeApiKey } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import type { Forecast } from '@lr/reporting';
import { TEST_RESIDENT_ID } from '@lr/testing';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, INBOX_SECRET, startTestApp, type TestApp } from './harness';

/**
 * GET /v1/forecast over a small store worked out by hand, from 2031-03-01 to 03-10.
 * Categories: food (60, 30, 10 days; SMS and push), hygiene (20 days; SMS only).
 *
 *   licence  category  expires     contact (region)            in the period
 *   A        food      03-31       P1, u-1 (411224)            03-01: 30 days left, the 30-day reminder (catch-up)
 *   B        food      04-05       P1 (411224)                 03-01: 35 days left, the 60-day one (catch-up); 03-06: enters the 30-day window
 *   C        food      03-15       P2, u-1 (411202)            03-01: 14 days left, the 30-day one (catch-up); 03-05: enters the 10-day window
 *   D        food      05-05       none (410102)               03-06: enters the 60-day window; no channel: a reminder, no message
 *   F        hygiene   03-26       P1, u-9 (411224)            03-06: enters its 20-day window; SMS only
 *   H        food      03-30       P3 (411224)                 reminded by the scan of 02-28 (30 days left): nothing on 03-01
 *   E        food      03-20       P3 (411224), revoked        nothing
 *   G        food      02-28       P3 (411224)                 expired before the period: nothing
 *
 * So (reminders, SMS, push): 03-01: 3, 2 (P1 for A and B, P2), 1 (u-1 for A and C);
 * 03-05: 1, 1, 1; 03-06: 3, 1 (P1 for B and F), 0; the other days 0. Totals 7, 4, 2.
 */
const FROM = '2031-03-01';
const TO = '2031-03-10';
const P1 = '13800000001';
const P2 = '13800000002';
const P3 = '13800000003';

let t: TestApp;
let viewerKey: string;

function licence(licenseNo: string, expiresOn: string, contact: { phone?: string; platformUserId?: string; regionCode?: string; categoryCode?: string; status?: string }) {
  return {
    categoryCode: 'food',
    licenseNo,
    holderName: '卢氏县张记面馆',
    holderType: 'individual',
    holderIdNo: TEST_RESIDENT_ID,
    phone: null,
    platformUserId: null,
    regionCode: '411224',
    validFrom: '2026-01-01',
    expiresOn,
    ...contact,
  };
}

async function send(licences: Record<string, unknown>[]) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: licences } });
  expect(res.statusCode, res.body).toBe(200);
}

function get(query: string, headers: Record<string, string> = auth(viewerKey)) {
  return t.app.inject({ method: 'GET', url: `/v1/forecast${query}`, headers });
}

async function forecast(query: string): Promise<Forecast> {
  const res = await get(query);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Forecast>();
}

/** The ten days of the period, zeros but for the days given. */
function days(counts: Record<string, [number, number, number]>) {
  return Array.from({ length: 10 }, (_, i) => {
    const date = addDays(FROM, i);
    const [reminders, sms, push] = counts[date] ?? [0, 0, 0];
    return { date, reminders, sms, push };
  });
}

beforeAll(async () => {
  t = await startTestApp();
  viewerKey = (await createApiKey(t.database.db, 'planning', 'viewer')).key;
  for (const body of [
    categoryBody('food', { leadDays: [60, 30, 10], channels: ['sms', 'push'] }),
    categoryBody('hygiene', { leadDays: [20], channels: ['sms'] }),
  ]) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: body });
    expect(res.statusCode, res.body).toBe(201);
  }
  await send([licence('H', '2031-03-30', { phone: P3 })]);
  const scan = await t.app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf: '2031-02-28' } });
  expect(scan.json()).toMatchObject({ remindersCreated: 1 });
  await send([
    licence('A', '2031-03-31', { phone: P1, platformUserId: 'u-1' }),
    licence('B', '2031-04-05', { phone: P1 }),
    licence('C', '2031-03-15', { phone: P2, platformUserId: 'u-1', regionCode: '411202' }),
    licence('D', '2031-05-05', { regionCode: '410102' }),
    licence('F', '2031-03-26', { phone: P1, platformUserId: 'u-9', categoryCode: 'hygiene' }),
    licence('E', '2031-03-20', { phone: P3, status: 'revoked' }),
    licence('G', '2031-02-28', { phone: P3 }),
  ]);
});

afterAll(() => t.close());

describe('GET /v1/forecast, worked by hand', () => {
  it('every day of the period, zeros included, messages joined per recipient, and the totals', async () => {
    expect(await forecast(`?from=${FROM}&to=${TO}`)).toEqual({
      items: days({ '2031-03-01': [3, 2, 1], '2031-03-05': [1, 1, 1], '2031-03-06': [3, 1, 0] }),
      totals: { reminders: 7, sms: 4, push: 2 },
    });
  });

  it('starting later, the first day catches up on the windows the licences are in', async () => {
    // From 03-06: A (25 days left), B (30), C (9: the 10-day window), D (60), F (20) are each
    // in a window whose reminder they lack; H has its 30-day reminder already.
    const res = await forecast('?from=2031-03-06&to=2031-03-06');
    expect(res).toEqual({ items: [{ date: '2031-03-06', reminders: 5, sms: 2, push: 1 }], totals: { reminders: 5, sms: 2, push: 1 } });
  });

  it('a category counts only its licences', async () => {
    expect(await forecast(`?from=${FROM}&to=${TO}&categoryCode=hygiene`)).toEqual({
      items: days({ '2031-03-06': [1, 1, 0] }),
      totals: { reminders: 1, sms: 1, push: 0 },
    });
  });

  it('a region counts only its licences, and their recipients', async () => {
    // 411224: A and B share P1 on 03-01; B and F share it on 03-06.
    expect(await forecast(`?from=${FROM}&to=${TO}&regionCode=411224`)).toEqual({
      items: days({ '2031-03-01': [2, 1, 1], '2031-03-06': [2, 1, 0] }),
      totals: { reminders: 4, sms: 2, push: 1 },
    });
    expect((await forecast(`?from=${FROM}&to=${TO}&regionCode=4112`)).totals).toEqual({ reminders: 6, sms: 4, push: 2 });
    expect((await forecast(`?from=${FROM}&to=${TO}&regionCode=41`)).totals).toEqual({ reminders: 7, sms: 4, push: 2 });
    expect(await forecast(`?from=${FROM}&to=${TO}&regionCode=410102&categoryCode=food`)).toEqual({
      items: days({ '2031-03-06': [1, 0, 0] }),
      totals: { reminders: 1, sms: 0, push: 0 },
    });
  });

  it('a disabled category makes no reminders', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: '/v1/categories/hygiene', headers: admin, payload: { enabled: false } });
    expect(res.statusCode, res.body).toBe(200);
    try {
      expect((await forecast(`?from=${FROM}&to=${TO}`)).totals).toEqual({ reminders: 6, sms: 4, push: 2 });
      expect((await forecast(`?from=${FROM}&to=${TO}&categoryCode=hygiene`)).totals).toEqual({ reminders: 0, sms: 0, push: 0 });
    } finally {
      await t.app.inject({ method: 'PATCH', url: '/v1/categories/hygiene', headers: admin, payload: { enabled: true } });
    }
  });

  it('defaults to 90 days from today in REMINDER_TIMEZONE', async () => {
    const before = localDate('Asia/Shanghai');
    const res = await forecast('');
    const today = res.items[0]!.date;
    expect([before, localDate('Asia/Shanghai')]).toContain(today);
    expect(res.items).toHaveLength(90);
    expect(res.items.at(-1)!.date).toBe(addDays(today, 89));
    expect(res.items.map((d) => d.date)).toEqual(Array.from({ length: 90 }, (_, i) => addDays(today, i)));
    expect((await forecast(`?from=${FROM}`)).items.map((d) => d.date).at(-1)).toBe('2031-05-29');
    expect((await forecast(`?to=${addDays(today, 2)}`)).items.map((d) => d.date)).toEqual([today, addDays(today, 1), addDays(today, 2)]);
  });

  it('covers at most 366 days', async () => {
    const year = await forecast('?from=2032-01-01&to=2032-12-31');
    expect(year.items).toHaveLength(366);
    expect(year.items.at(-1)).toEqual({ date: '2032-12-31', reminders: 0, sms: 0, push: 0 });
    const error = expectError(await get('?from=2032-01-01&to=2033-01-01'), 400, 'invalid_request');
    expect(error.message).toMatch(/366 days/);
    expect(error.details).toEqual([expect.objectContaining({ field: 'to' })]);
    expectError(await get('?from=2031-01-01&to=2032-01-02'), 400, 'invalid_request');
    expect((await forecast('?from=2031-01-01&to=2031-12-31')).items).toHaveLength(365);
  });

  it.each([
    ['from after to', '?from=2031-03-10&to=2031-03-01', 'from'],
    ['to before the default from (today)', '?to=2000-01-01', 'to'],
    ['a date that is not a day', '?from=2031-02-29', 'from'],
    ['a date not written YYYY-MM-DD', '?from=2031-3-1', 'from'],
    ['to not a date', '?from=2031-03-01&to=tomorrow', 'to'],
    ['an unknown category', '?categoryCode=nope', 'categoryCode'],
    ['a region of 3 digits', '?regionCode=411', 'regionCode'],
    ['a region of letters', '?regionCode=41ab', 'regionCode'],
    ['a region of 7 digits', '?regionCode=4112241', 'regionCode'],
    ['an unknown field', '?groupBy=category', 'groupBy'],
  ])('400 invalid_request for %s', async (_, query, field) => {
    const error = expectError(await get(query), 400, 'invalid_request');
    expect(JSON.stringify(error.details ?? [])).toContain(field);
  });

  it('any key may read it; without a valid key 401', async () => {
    const operator = (await createApiKey(t.database.db, 'desk', 'operator')).key;
    expect((await get(`?from=${FROM}&to=${TO}`, auth(operator))).statusCode).toBe(200);
    expect((await get(`?from=${FROM}&to=${TO}`, admin)).statusCode).toBe(200);
    expectError(await get(`?from=${FROM}&to=${TO}`, {}), 401, 'unauthorized');
    expectError(await get(`?from=${FROM}&to=${TO}`, auth('not-a-key-0123456789abcdef')), 401, 'unauthorized');
    const revoked = await createApiKey(t.database.db, 'gone', 'viewer');
    await revokeApiKey(t.database.db, revoked.id);
    expectError(await get(`?from=${FROM}&to=${TO}`, auth(revoked.key)), 401, 'unauthorized');
    // A licensee's app token opens the inbox, not the reports.
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u-1').setExpirationTime('1h').sign(new TextEncoder().encode(INBOX_SECRET));
    expectError(await get(`?from=${FROM}&to=${TO}`, auth(token)), 401, 'unauthorized');
  });
});
