import { createApiKey } from '@lr/db';
import { addDays, localDate, residentIdCheckChar } from '@lr/domain';
import { finishMessage, TEST_ENTERPRISE } from '@lr/testing';
import { sql } from 'kysely';
import Papa from 'papaparse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type App, type TestApp } from './harness';

/**
 * The follow-ups through the API. Today's scan (in Asia/Shanghai, as the API counts days
 * left) finds five licences of `food`:
 *   NOPHONE  individual, no contact, 20 days left   the scan opens `unreached`
 *   FAILS    individual, SMS, 25 days left          its SMS fails: `unreached`
 *   CLOSE    enterprise, SMS, 2 days left           its SMS is delivered: `not_renewed` (the sweep or next scan)
 *   FINE     individual, SMS, 40 days left          delivered: no follow-up
 *   OTHER    individual, no contact, 15 days left, region 410102 (Zhengzhou), category `hygiene`: `unreached`
 */
let testApp: TestApp;
let app: App;
let operator: Record<string, string>;
let viewer: Record<string, string>;
let today: string;

const residentId = (n: number) => {
  const first17 = `41122419900101${String(n).padStart(3, '0')}`;
  return first17 + residentIdCheckChar(first17);
};

interface FollowUp {
  id: number;
  reason: string;
  status: string;
  resolution: string | null;
  licenseId: number;
  categoryCode: string;
  licenseNo: string;
  holderName: string;
  holderType: string;
  phone: string | null;
  regionCode: string;
  expiresOn: string;
  daysLeft: number;
  openedAt: string;
  closedAt: string | null;
  actions: { kind: string; result: string; note: string | null; by: string; at: string }[];
}

function get(url: string, headers: Record<string, string> = operator) {
  return app.inject({ method: 'GET', url, headers });
}

async function list(query = '', headers = operator): Promise<{ items: FollowUp[]; nextCursor: string | null }> {
  const res = await get(`/v1/follow-ups${query}`, headers);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const byNo = async (licenseNo: string) => (await list()).items.find((f) => f.licenseNo === licenseNo)!;

function act(id: number, body: Record<string, unknown>, headers = operator) {
  return app.inject({ method: 'POST', url: `/v1/follow-ups/${id}/actions`, headers, payload: body });
}

beforeAll(async () => {
  testApp = await startTestApp();
  app = testApp.app;
  operator = auth((await createApiKey(testApp.database.db, 'service centre desk 2', 'operator')).key);
  viewer = auth((await createApiKey(testApp.database.db, 'county office', 'viewer')).key);
  today = localDate('Asia/Shanghai');
  for (const [code, channels] of [['food', ['sms']], ['hygiene', ['sms']]] as const) {
    const res = await app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody(code, { channels }) });
    expect(res.statusCode, res.body).toBe(201);
  }
  const licence = (licenseNo: string, days: number, extra: Record<string, unknown>) => ({
    categoryCode: 'food',
    licenseNo,
    holderType: 'individual',
    holderIdNo: residentId(licenseNo.length),
    holderName: '王小明',
    phone: null,
    platformUserId: null,
    regionCode: '411224',
    validFrom: '2020-01-01',
    expiresOn: addDays(today, days),
    status: 'active',
    ...extra,
  });
  const batch = await app.inject({
    method: 'POST',
    url: '/v1/licenses/batch',
    headers: admin,
    payload: {
      licenses: [
        licence('NOPHONE', 20, {}),
        licence('FAILS', 25, { phone: '13800138001' }),
        licence('CLOSE', 2, { ...TEST_ENTERPRISE, phone: '13800138002' }),
        licence('FINE', 40, { phone: '13800138003' }),
        licence('OTHER', 15, { categoryCode: 'hygiene', regionCode: '410102', holderName: '李四' }),
      ],
    },
  });
  expect(batch.statusCode, batch.body).toBe(200);
  const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: {} });
  expect(scan.statusCode, scan.body).toBe(200);
  const messages = async (licenseNo: string) =>
    (
      await sql<{ id: number }>`
        select d.message_id as id from deliveries d join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
         where l.license_no = ${licenseNo}`.execute(testApp.database.db)
    ).rows[0]!.id;
  await finishMessage(testApp.database.db, await messages('FAILS'), 'failed');
  await finishMessage(testApp.database.db, await messages('CLOSE'), 'delivered');
  await finishMessage(testApp.database.db, await messages('FINE'), 'delivered');
  // The day's scan again: it opens not_renewed for CLOSE, reached since the first run.
  expect((await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: {} })).statusCode).toBe(200);
});

afterAll(async () => {
  await testApp?.close();
});

describe('GET /v1/follow-ups', () => {
  it('lists them most urgent first, each with every field of the contract, the phone masked, days left from today', async () => {
    const { items, nextCursor } = await list();
    expect(items.map((f) => [f.licenseNo, f.reason, f.daysLeft])).toEqual([
      ['CLOSE', 'not_renewed', 2],
      ['OTHER', 'unreached', 15],
      ['NOPHONE', 'unreached', 20],
      ['FAILS', 'unreached', 25],
    ]);
    expect(nextCursor).toBeNull();
    const fails = items[3]!;
    expect(fails).toEqual({
      id: expect.any(Number),
      reason: 'unreached',
      status: 'open',
      resolution: null,
      licenseId: expect.any(Number),
      categoryCode: 'food',
      licenseNo: 'FAILS',
      holderName: '王小明',
      holderType: 'individual',
      phone: '138****8001',
      regionCode: '411224',
      expiresOn: addDays(today, 25),
      daysLeft: 25,
      openedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      closedAt: null,
      actions: [],
    });
    expect(items[0]).toMatchObject({ holderType: 'enterprise', holderName: TEST_ENTERPRISE.holderName, phone: '138****8002' });
    expect(items[2]!.phone).toBeNull();
  });

  it('filters by status, reason, category and region (a county or a prefix), and pages with a cursor', async () => {
    expect((await list('?reason=not_renewed')).items.map((f) => f.licenseNo)).toEqual(['CLOSE']);
    expect((await list('?categoryCode=hygiene')).items.map((f) => f.licenseNo)).toEqual(['OTHER']);
    expect((await list('?regionCode=4101')).items.map((f) => f.licenseNo)).toEqual(['OTHER']);
    expect((await list('?regionCode=411224&reason=unreached')).items.map((f) => f.licenseNo)).toEqual(['NOPHONE', 'FAILS']);
    expect((await list('?status=closed')).items).toEqual([]);
    const first = await list('?limit=3');
    expect(first.items).toHaveLength(3);
    const second = await list(`?limit=3&cursor=${first.nextCursor}`);
    expect(second.items.map((f) => f.licenseNo)).toEqual(['FAILS']);
    expect(second.nextCursor).toBeNull();
  });

  it('is open to viewers; refuses bad filters and cursors with 400', async () => {
    expect((await list('', viewer)).items).toHaveLength(4);
    expect((await get('/v1/follow-ups', {})).statusCode).toBe(401);
    for (const query of ['?status=pending', '?reason=late', '?categoryCode=nope', '?regionCode=123', '?cursor=garbage', '?limit=0', '?colour=red']) {
      expect((await get(`/v1/follow-ups${query}`)).statusCode, query).toBe(400);
    }
  });
});

describe('GET /v1/follow-ups/{id}', () => {
  it('gives one follow-up; 404 for none', async () => {
    const fails = await byNo('FAILS');
    const res = await get(`/v1/follow-ups/${fails.id}`, viewer);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(fails);
    expectError(await get('/v1/follow-ups/999999'), 404, 'not_found');
    expect((await get('/v1/follow-ups/0')).statusCode).toBe(400);
  });
});

describe('POST /v1/follow-ups/{id}/actions', () => {
  it('records a call with its result and note, by the key that made it, and audits it', async () => {
    const nophone = await byNo('NOPHONE');
    const res = await act(nophone.id, { kind: 'visit', result: 'will_renew', note: '上门告知，本周内办理' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      id: nophone.id,
      status: 'open',
      actions: [{ kind: 'visit', result: 'will_renew', note: '上门告知，本周内办理', by: 'service centre desk 2', at: expect.any(String) }],
    });
    const audit = await app.inject({ method: 'GET', url: '/v1/audit?action=follow-up.action', headers: admin });
    expect(audit.json().items[0]).toMatchObject({ actor: 'service centre desk 2', action: 'follow-up.action', target: `follow-up:${nophone.id}` });
  });

  it('closes it as handled when asked; a closed follow-up takes no action (409 follow_up_closed)', async () => {
    const other = await byNo('OTHER');
    const closed = await act(other.id, { kind: 'call', result: 'reached', close: true });
    expect(closed.statusCode).toBe(201);
    expect(closed.json()).toMatchObject({ status: 'closed', resolution: 'handled', closedAt: expect.any(String), actions: [{ kind: 'call', result: 'reached', note: null }] });
    expectError(await act(other.id, { kind: 'call', result: 'reached' }), 409, 'follow_up_closed');
    expect((await list('?status=closed')).items.map((f) => f.licenseNo)).toEqual(['OTHER']);
  });

  it('is for operators; refuses a bad action with 400 and an unknown follow-up with 404', async () => {
    const fails = await byNo('FAILS');
    expect((await act(fails.id, { kind: 'call', result: 'reached' }, viewer)).statusCode).toBe(403);
    for (const body of [{ kind: 'email', result: 'reached' }, { kind: 'call', result: 'maybe' }, { kind: 'call' }, { kind: 'call', result: 'other', note: 'x'.repeat(501) }, { kind: 'call', result: 'other', extra: 1 }]) {
      expectError(await act(fails.id, body), 400);
    }
    expectError(await act(999999, { kind: 'call', result: 'reached' }), 404, 'not_found');
    expect((await byNo('FAILS')).actions).toEqual([]);
  });
});

describe('GET /v1/follow-ups.csv', () => {
  it('is the list as CSV with a BOM, personal data masked as in the ledger; English or Chinese header', async () => {
    const res = await get('/v1/follow-ups.csv?status=open');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toContain(`follow-ups_${today}_open.csv`);
    expect(res.body.startsWith('\uFEFF')).toBe(true);
    const parsed = Papa.parse<Record<string, string>>(res.body.slice(1), { header: true, skipEmptyLines: true });
    expect(parsed.errors).toEqual([]);
    expect(parsed.meta.fields).toEqual([
      'id', 'reason', 'status', 'resolution', 'licenseId', 'categoryCode', 'licenseNo', 'holderName', 'holderType', 'holderIdNo',
      'phone', 'regionCode', 'expiresOn', 'daysLeft', 'openedAt', 'closedAt', 'actions', 'lastAction',
    ]);
    expect(parsed.data.map((r) => r.licenseNo)).toEqual(['CLOSE', 'NOPHONE', 'FAILS']);
    const fails = parsed.data.find((r) => r.licenseNo === 'FAILS')!;
    expect(fails).toMatchObject({ reason: 'unreached', holderName: '王**', phone: '138****8001', daysLeft: '25', actions: '0', lastAction: '' });
    expect(fails.holderIdNo).toMatch(/^\d{3}\*+\d{3}[\dX]$/);
    expect(fails.openedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    expect(parsed.data.find((r) => r.licenseNo === 'NOPHONE')).toMatchObject({ actions: '1', lastAction: 'visit: will_renew' });
    expect(parsed.data.find((r) => r.licenseNo === 'CLOSE')!.holderName).toBe(TEST_ENTERPRISE.holderName);
    expect(res.body).not.toMatch(/13800138001|王小明/);

    const zh = await get('/v1/follow-ups.csv?lang=zh');
    expect(zh.body.slice(1).split('\n')[0]).toBe(
      '编号,原因,状态,结果,证照序号,证照类别代码,证照编号,持证人,持证人类型,证件号码,手机号码,行政区划,到期日期,剩余天数,立项时间,办结时间,跟进次数,最近跟进',
    );
    expect((await get('/v1/follow-ups.csv', viewer)).statusCode).toBe(403);
  });
});

describe('GET /v1/licenses/{id}/contact', () => {
  it('gives an operator the full phone and platform user id, and writes who read it to the audit log', async () => {
    const fails = await byNo('FAILS');
    const res = await get(`/v1/licenses/${fails.licenseId}/contact`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ phone: '+8613800138001', platformUserId: null });
    const audit = await app.inject({ method: 'GET', url: '/v1/audit?action=licenses.contact.read', headers: admin });
    expect(audit.json().items).toEqual([
      expect.objectContaining({ actor: 'service centre desk 2', action: 'licenses.contact.read', target: `license:${fails.licenseId}` }),
    ]);
  });

  it('is refused to viewers (403), 404 for no licence, and a refused read writes no audit entry', async () => {
    const fails = await byNo('FAILS');
    expect((await get(`/v1/licenses/${fails.licenseId}/contact`, viewer)).statusCode).toBe(403);
    expectError(await get('/v1/licenses/999999/contact'), 404, 'not_found');
    const audit = await app.inject({ method: 'GET', url: '/v1/audit?action=licenses.contact.read', headers: admin });
    expect(audit.json().items).toHaveLength(1);
  });
});

describe('follow-ups close by themselves, seen through the API', () => {
  it('a renewal closes the licence follow-up as renewed', async () => {
    const fails = await byNo('FAILS');
    const stored = await get(`/v1/licenses/${fails.licenseId}`, admin);
    const { id: _id, createdAt: _c, updatedAt: _u, reminders: _r, renewals: _n, holderIdNo: _h, ...licence } = stored.json();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/licenses/batch',
      headers: admin,
      // The answer masks the phone and the id number: the sender has its own whole ones.
      payload: { licenses: [{ ...licence, holderIdNo: residentId('FAILS'.length), phone: '13800138001', expiresOn: addDays(today, 400) }] },
    });
    expect(res.json()).toMatchObject({ renewed: 1 });
    const after = await get(`/v1/follow-ups/${fails.id}`);
    expect(after.json()).toMatchObject({ status: 'closed', resolution: 'renewed', closedAt: expect.any(String) });
    expectError(await act(fails.id, { kind: 'call', result: 'reached' }), 409, 'follow_up_closed');
  });
});

describe('/metrics', () => {
  it('counts open follow-ups by reason', async () => {
    const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: admin })).body;
    // Open: CLOSE (not_renewed) and NOPHONE (unreached); OTHER was handled and FAILS renewed.
    expect(metrics).toContain('lr_follow_ups_open{reason="unreached"} 1');
    expect(metrics).toContain('lr_follow_ups_open{reason="not_renewed"} 1');
  });
});
