import { createApiKey, SCAN_LOCK } from '@lr/db';
import { localDate } from '@lr/domain';
import type { MessageQueues } from '@lr/jobs';
import { TEST_ENTERPRISE, TEST_RESIDENT_ID, testLicense, type TestDatabase, type TestRedis } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, admin, auth, categoryBody, expectError, startTestApp, type App, type TestApp } from './harness';

let testApp: TestApp | undefined;
let database: TestDatabase;
let queueRedis: TestRedis;
let queues: MessageQueues;
let app: App;
let operatorKey: string;
let viewerKey: string;

/** A valid licence row; far from expiry unless told otherwise, so scans leave it alone. */
function licence(overrides: Record<string, unknown> = {}) {
  return { ...testLicense(), ...overrides };
}

function get(url: string, headers: Record<string, string> = admin) {
  return app.inject({ method: 'GET', url, headers });
}
function post(url: string, payload: unknown, headers: Record<string, string> = admin) {
  return app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });
}
function patch(url: string, payload: unknown, headers: Record<string, string> = admin) {
  return app.inject({ method: 'PATCH', url, headers, payload: payload as Record<string, unknown> });
}

async function licenceRowCount(): Promise<number> {
  const row = await database.db.selectFrom('licenses').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

beforeAll(async () => {
  testApp = await startTestApp();
  ({ app, database, queueRedis, queues } = testApp);
  operatorKey = (await createApiKey(database.db, 'service centre', 'operator')).key;
  viewerKey = (await createApiKey(database.db, 'county office', 'viewer')).key;
  const created = await post('/v1/categories', categoryBody('food-business'));
  expect(created.statusCode, created.body).toBe(201);
});

afterAll(async () => {
  await testApp?.close();
});

// ---- categories --------------------------------------------------------------------------

describe('categories', () => {
  it('creates a category with the default lead days 60, 30, 10 and enabled', async () => {
    const res = await post('/v1/categories', categoryBody('hygiene'));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ code: 'hygiene', leadDays: [60, 30, 10], enabled: true, channels: ['sms', 'push'] });
  });

  it('lists categories in the order of their codes, a page at a time', async () => {
    for (const code of ['page-a', 'page-b', 'page-c']) expect((await post('/v1/categories', categoryBody(code))).statusCode).toBe(201);
    const codes: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/categories?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body.items.length).toBeLessThanOrEqual(2);
      codes.push(...body.items.map((c: { code: string }) => c.code));
      cursor = body.nextCursor;
    } while (cursor);
    expect(codes).toEqual([...new Set(codes)].sort());
    expect(codes).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c']));
    expect((await get('/v1/categories')).json().items.map((c: { code: string }) => c.code)).toEqual(codes);
    expectError(await get('/v1/categories?cursor=bm90IGEgY29kZSE'), 400, 'invalid_cursor');
    expectError(await get('/v1/categories?limit=1001'), 400);
  });

  it('keeps lead days distinct and in descending order', async () => {
    const res = await post('/v1/categories', categoryBody('water', { leadDays: [10, 90, 30] }));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().leadDays).toEqual([90, 30, 10]);
    const again = await get('/v1/categories/water');
    expect(again.json().leadDays).toEqual([90, 30, 10]);
  });

  it('refuses a second category with the same code with 409 and leaves the first as it was', async () => {
    expect((await post('/v1/categories', categoryBody('transport'))).statusCode).toBe(201);
    const res = await post('/v1/categories', categoryBody('transport', { name: '道路运输经营许可证' }));
    expectError(res, 409, 'category_exists');
    expect((await get('/v1/categories/transport')).json().name).toBe('食品经营许可证');
  });

  it('rejects an unknown placeholder with 422 naming the placeholder and the template', async () => {
    const res = await post('/v1/categories', categoryBody('bad-template', { pushBody: '您的证照{licenceNo}将于{expiresOn}到期' }));
    const error = expectError(res, 422);
    expect(error.message).toContain('{licenceNo}');
    expect(error.details).toEqual([{ field: 'pushBody', message: expect.stringContaining('{licenceNo}') }]);
    expectError(await get('/v1/categories/bad-template'), 404, 'not_found');
  });

  it('rejects an unknown field with 400 naming it', async () => {
    const res = await post('/v1/categories', categoryBody('extra-field', { colour: 'red' }));
    const error = expectError(res, 400);
    expect(error.details).toContainEqual({ field: 'colour', message: 'unknown field' });
    expectError(await get('/v1/categories/extra-field'), 404);
  });

  it.each([['Food_Business'], ['x'], ['a'.repeat(41)], ['食品']])('rejects the code %j with 400', async (code) => {
    const res = await post('/v1/categories', categoryBody(code));
    const error = expectError(res, 400);
    expect(error.details?.map((d) => d.field)).toContain('code');
  });

  it('rejects bad lead days and channels with 400', async () => {
    expectError(await post('/v1/categories', categoryBody('lead-zero', { leadDays: [0, 30] })), 400);
    expectError(await post('/v1/categories', categoryBody('lead-big', { leadDays: [367] })), 400);
    expectError(await post('/v1/categories', categoryBody('lead-dup', { leadDays: [30, 30] })), 400);
    expectError(await post('/v1/categories', categoryBody('fax', { channels: ['fax'] })), 400);
    expectError(await post('/v1/categories', categoryBody('no-channel', { channels: [] })), 400);
  });

  // PostgreSQL cannot store a NUL character; the API refuses it before it gets there.
  it('rejects a category text holding a NUL character with 400 or 422, not 500', async () => {
    const res = await post('/v1/categories', categoryBody('nul-name', { name: '食品\u0000经营许可证' }));
    expect([400, 422]).toContain(res.statusCode);
    expectError(res, res.statusCode);
  });

  it('PATCH changes the fields given and 404s for a category that does not exist', async () => {
    expect((await post('/v1/categories', categoryBody('patchable'))).statusCode).toBe(201);
    const res = await patch('/v1/categories/patchable', { leadDays: [7, 45], consultPhone: '0398-7823062' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ code: 'patchable', leadDays: [45, 7], consultPhone: '0398-7823062', name: '食品经营许可证' });
    expect((await get('/v1/categories/patchable')).json()).toMatchObject({ leadDays: [45, 7], consultPhone: '0398-7823062' });

    expectError(await patch('/v1/categories/no-such-category', { name: '取水许可证' }), 404, 'not_found');
    expectError(await patch('/v1/categories/patchable', { smsTemplate: '到期{when}' }), 422);
    expectError(await patch('/v1/categories/patchable', { code: 'renamed' }), 400);
    expectError(await patch('/v1/categories/patchable', {}), 400);
  });

  it('GET lists categories in code order and GET one returns it or 404', async () => {
    const list = await get('/v1/categories', auth(viewerKey));
    expect(list.statusCode).toBe(200);
    const body = list.json<{ items: { code: string }[]; nextCursor: string | null }>();
    const codes = body.items.map((c) => c.code);
    expect(codes).toEqual([...codes].sort());
    expect(codes).toEqual(expect.arrayContaining(['food-business', 'hygiene', 'water']));
    expect(body.nextCursor).toBeNull();

    const one = await get('/v1/categories/food-business', auth(viewerKey));
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject(categoryBody('food-business', { leadDays: [60, 30, 10], enabled: true }));
    expectError(await get('/v1/categories/nothing-here'), 404, 'not_found');
  });
});

// ---- auth --------------------------------------------------------------------------------

describe('authentication and roles', () => {
  it('401 without a key, with an unknown key, and with a malformed header', async () => {
    expectError(await get('/v1/categories', {}), 401, 'unauthorized');
    expectError(await get('/v1/categories', auth('lr_not-a-key-that-exists-anywhere')), 401, 'unauthorized');
    expectError(await get('/v1/categories', { authorization: ADMIN_KEY }), 401, 'unauthorized');
    expectError(await post('/v1/categories', categoryBody('sneaky'), {}), 401);
    expectError(await get('/v1/categories/sneaky'), 404);
  });

  it('a viewer may read but not write', async () => {
    const viewer = auth(viewerKey);
    expect((await get('/v1/categories', viewer)).statusCode).toBe(200);
    expect((await get('/v1/licenses', viewer)).statusCode).toBe(200);
    expect((await get('/v1/reminders', viewer)).statusCode).toBe(200);
    expect((await get('/v1/scans', viewer)).statusCode).toBe(200);
    expectError(await post('/v1/categories', categoryBody('by-viewer'), viewer), 403, 'forbidden');
    expectError(await patch('/v1/categories/food-business', { enabled: false }, viewer), 403, 'forbidden');
    expectError(await post('/v1/licenses/batch', { licenses: [licence()] }, viewer), 403, 'forbidden');
    expectError(await post('/v1/scans', { asOf: '2020-01-01' }, viewer), 403, 'forbidden');
    expect((await get('/v1/categories/food-business')).json().enabled).toBe(true);
  });

  it('an operator may run scans but not change categories or licences', async () => {
    const operator = auth(operatorKey);
    const scan = await post('/v1/scans', { asOf: '2020-01-01' }, operator);
    expect(scan.statusCode, scan.body).toBe(200);
    expect(scan.json()).toMatchObject({ asOf: '2020-01-01', trigger: 'api', status: 'succeeded' });
    expectError(await post('/v1/categories', categoryBody('by-operator'), operator), 403, 'forbidden');
    expectError(await post('/v1/licenses/batch', { licenses: [licence()] }, operator), 403, 'forbidden');
    expect((await get('/v1/licenses', operator)).statusCode).toBe(200);
  });
});

// ---- licences batch ----------------------------------------------------------------------

describe('POST /v1/licenses/batch', () => {
  it('is all-or-nothing: one bad row among good ones gives 422 listing every bad row, and writes nothing', async () => {
    const before = await licenceRowCount();
    const rows = [
      licence(),
      licence({ phone: '010-12345678', regionCode: '999999' }),
      licence(),
      licence({ expiresOn: '2026-02-30' }),
      licence({ holderType: 'enterprise', holderIdNo: TEST_RESIDENT_ID }),
      licence(),
    ];
    const res = await post('/v1/licenses/batch', { licenses: rows });
    const error = expectError(res, 422, 'invalid_licenses');
    const details = error.details!;
    for (const d of details) {
      expect(typeof d.index).toBe('number');
      expect(typeof d.field).toBe('string');
      expect(d.message.length).toBeGreaterThan(0);
    }
    expect(details.map((d) => [d.index, d.field])).toEqual([
      [1, 'phone'],
      [1, 'regionCode'],
      [3, 'expiresOn'],
      [4, 'holderIdNo'],
    ]);
    expect(await licenceRowCount()).toBe(before);
  });

  it('reports a row that is not an object, and fields that are missing or unknown', async () => {
    const { licenseNo: _dropped, ...withoutNo } = licence();
    const res = await post('/v1/licenses/batch', { licenses: [licence(), 42, withoutNo, licence({ colour: 'red' })] });
    const details = expectError(res, 422).details!;
    expect(details.some((d) => d.index === 1)).toBe(true);
    expect(details).toContainEqual(expect.objectContaining({ index: 2, field: 'licenseNo' }));
    expect(details).toContainEqual(expect.objectContaining({ index: 3, field: 'colour' }));
    expect(details.some((d) => d.index === 0)).toBe(false);
  });

  it('rejects a row of an unknown category with 422 and writes nothing', async () => {
    const before = await licenceRowCount();
    const res = await post('/v1/licenses/batch', { licenses: [licence(), licence({ categoryCode: 'no-such-category' })] });
    const details = expectError(res, 422).details!;
    expect(details).toEqual([{ index: 1, field: 'categoryCode', message: expect.stringContaining('no-such-category') }]);
    expect(await licenceRowCount()).toBe(before);
  });

  it('rejects the same key twice inside one batch with 422 and writes nothing', async () => {
    const before = await licenceRowCount();
    const first = licence();
    const res = await post('/v1/licenses/batch', { licenses: [first, licence(), { ...first, holderName: '另一个名字' }] });
    const details = expectError(res, 422).details!;
    expect(details).toEqual([{ index: 2, field: 'licenseNo', message: expect.any(String) }]);
    expect(await licenceRowCount()).toBe(before);
  });

  it('refuses more than 10,000 rows with 400', async () => {
    const before = await licenceRowCount();
    const res = await post('/v1/licenses/batch', { licenses: Array.from({ length: 10_001 }, () => ({})) });
    expectError(res, 400);
    expectError(await post('/v1/licenses/batch', { licences: [licence()] }), 400);
    // ajv coerces a lone value into a one-row array (coerceTypes: 'array'), so this is 400 or 422
    const scalar = await post('/v1/licenses/batch', { licenses: 'all of them' });
    expect([400, 422]).toContain(scalar.statusCode);
    expectError(scalar, scalar.statusCode);
    expect(await licenceRowCount()).toBe(before);
  });

  it('stores a valid batch with counts; the same batch again is unchanged; later and earlier dates count as renewed and updated', async () => {
    const rows = [
      licence({ phone: '+86 138-0013-8001' }),
      licence({ ...TEST_ENTERPRISE, platformUserId: 'u-1001' }),
      licence({ phone: null }),
    ];
    const first = await post('/v1/licenses/batch', { licenses: rows });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ created: 3, updated: 0, renewed: 0, unchanged: 0 });

    const again = await post('/v1/licenses/batch', { licenses: rows });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ created: 0, updated: 0, renewed: 0, unchanged: 3 });

    const changed = [
      { ...rows[0]!, expiresOn: '2031-12-31' },
      { ...rows[1]!, expiresOn: '2029-12-31' },
      { ...rows[2]!, holderName: '卢氏县张记面馆（新址）' },
      licence(),
    ];
    const third = await post('/v1/licenses/batch', { licenses: changed });
    expect(third.json()).toEqual({ created: 1, updated: 2, renewed: 1, unchanged: 0 });

    const stored = await get(`/v1/licenses?licenseNo=${rows[0]!.licenseNo}`);
    // Masked in every answer but the audited contact read.
    expect(stored.json().items).toEqual([expect.objectContaining({ phone: '138****8001', expiresOn: '2031-12-31' })]);
    const contact = await get(`/v1/licenses/${stored.json().items[0].id}/contact`);
    expect(contact.json()).toEqual({ phone: '+8613800138001', platformUserId: null });
  });
});

// ---- licences queries --------------------------------------------------------------------

describe('GET /v1/licenses', () => {
  const paged: string[] = [];

  beforeAll(async () => {
    expect((await post('/v1/categories', categoryBody('paging'))).statusCode).toBe(201);
    const rows = ['2027-01-05', '2027-02-10', '2027-03-15', '2027-04-20', '2027-05-25'].map((expiresOn) =>
      licence({ categoryCode: 'paging', expiresOn }),
    );
    paged.push(...rows.map((r) => r.licenseNo));
    const res = await post('/v1/licenses/batch', { licenses: rows });
    expect(res.json()).toMatchObject({ created: 5 });
  });

  it('walks every page with limit=2 in a stable order, ending with nextCursor null', async () => {
    const seen: { id: number; licenseNo: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/licenses?categoryCode=paging&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await get(url, auth(viewerKey));
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<{ items: { id: number; licenseNo: string }[]; nextCursor: string | null }>();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items);
      cursor = body.nextCursor;
      pages += 1;
      expect(pages).toBeLessThan(10);
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen.map((l) => l.licenseNo)).toEqual(paged);
    const ids = seen.map((l) => l.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const all = await get('/v1/licenses?categoryCode=paging');
    expect(all.json().items.map((l: { id: number }) => l.id)).toEqual(ids);
    expect(all.json().nextCursor).toBeNull();
  });

  it('filters by category, licence number and expiry range', async () => {
    const byRange = await get('/v1/licenses?categoryCode=paging&expiresFrom=2027-02-10&expiresTo=2027-04-20');
    expect(byRange.json().items.map((l: { expiresOn: string }) => l.expiresOn)).toEqual(['2027-02-10', '2027-03-15', '2027-04-20']);

    const byNo = await get(`/v1/licenses?licenseNo=${paged[3]}`);
    expect(byNo.json().items).toEqual([expect.objectContaining({ licenseNo: paged[3], categoryCode: 'paging', expiresOn: '2027-04-20' })]);

    const none = await get('/v1/licenses?categoryCode=no-such-category');
    expect(none.json()).toEqual({ items: [], nextCursor: null });
  });

  it('masks the holder id number in every licence it returns', async () => {
    const res = await get('/v1/licenses?categoryCode=paging');
    expect(res.body).not.toContain(TEST_RESIDENT_ID);
    for (const item of res.json().items as { holderIdNo: string }[]) {
      expect(item.holderIdNo).toBe(`${TEST_RESIDENT_ID.slice(0, 3)}${'*'.repeat(11)}${TEST_RESIDENT_ID.slice(-4)}`);
    }
  });

  it('answers 400 for a cursor it did not give out, and for a limit of 0 or 1001', async () => {
    expectError(await get('/v1/licenses?cursor=not-a-cursor!'), 400);
    expectError(await get('/v1/licenses?cursor=zzzz'), 400, 'invalid_cursor');
    expectError(await get('/v1/licenses?limit=0'), 400);
    expectError(await get('/v1/licenses?limit=1001'), 400);
    expectError(await get('/v1/licenses?limit=ten'), 400);
    expectError(await get('/v1/licenses?expiresFrom=tomorrow'), 400);
    expectError(await get('/v1/licenses?colour=red'), 400);
    expect((await get('/v1/licenses?limit=1000')).statusCode).toBe(200);
  });

  // The schema checks the shape YYYY-MM-DD; the route checks that it is a real calendar day.
  it('answers 4xx, not 500, for an expiry filter that is not a real date', async () => {
    for (const query of ['expiresFrom=2026-02-30', 'expiresTo=2026-13-01']) {
      const res = await get(`/v1/licenses?${query}`);
      expect([400, 422]).toContain(res.statusCode);
      expectError(res, res.statusCode);
    }
  });

  // PostgreSQL refuses a NUL character in text ("invalid byte sequence for encoding UTF8: 0x00").
  it('answers 4xx, not 500, for a filter or code holding a NUL character', async () => {
    for (const url of ['/v1/licenses?licenseNo=a%00b', '/v1/reminders?licenseNo=a%00b', '/v1/categories/a%00b']) {
      const res = await get(url);
      expect(res.statusCode, url).toBeLessThan(500);
      expectError(res, res.statusCode);
    }
  });

  // A cursor is opaque to clients, but one edited by hand is still bad input: the contract
  // says 400, never a 500. This one decodes to an id beyond PostgreSQL's integer range.
  it('answers 400, not 500, for a cursor that decodes to an id beyond the integer range', async () => {
    const cursor = Buffer.from('99999999999').toString('base64url');
    expectError(await get(`/v1/licenses?cursor=${cursor}`), 400, 'invalid_cursor');
  });

  it('GET /v1/licenses/:id returns the licence masked, with its reminders and renewals; 404 when missing', async () => {
    const list = await get(`/v1/licenses?licenseNo=${paged[0]}`);
    const id = list.json().items[0].id as number;
    const one = await get(`/v1/licenses/${id}`, auth(viewerKey));
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id, licenseNo: paged[0], reminders: [], renewals: [] });
    expect(one.body).not.toContain(TEST_RESIDENT_ID);

    expectError(await get('/v1/licenses/987654'), 404, 'not_found');
    expectError(await get('/v1/licenses/abc'), 400);
    expectError(await get('/v1/licenses/0'), 400);
  });
});

// ---- scans and reminders -----------------------------------------------------------------

describe('scans and reminders', () => {
  const AS_OF = '2026-03-01';
  const no = { in30: 'SCAN-0001', in10: 'SCAN-0002', in50: 'SCAN-0003', other: 'SCAN-0004' };
  let scan: Record<string, unknown>;

  beforeAll(async () => {
    expect((await post('/v1/categories', categoryBody('scan-sms', { channels: ['sms'] }))).statusCode).toBe(201);
    const res = await post('/v1/licenses/batch', {
      licenses: [
        // 30 days left: the 30-day reminder, by SMS to 138...8000
        licence({ categoryCode: 'scan-sms', licenseNo: no.in30, expiresOn: '2026-03-31', phone: '13800138000' }),
        // 10 days left, no phone and no platform user: undeliverable
        licence({ categoryCode: 'scan-sms', licenseNo: no.in10, expiresOn: '2026-03-11', phone: null }),
        // 50 days left: the 60-day reminder, same phone as in30 (one SMS for both)
        licence({ categoryCode: 'scan-sms', licenseNo: no.in50, expiresOn: '2026-04-20', phone: '13800138000' }),
        // another holder
        licence({ categoryCode: 'scan-sms', licenseNo: no.other, expiresOn: '2026-03-20', phone: '13900139000' }),
      ],
    });
    expect(res.json()).toMatchObject({ created: 4 });
  });

  it('answers 409 scan_in_progress while another scan holds the scan lock', async () => {
    const other = await database.pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
      expectError(await post('/v1/scans', { asOf: '2026-03-01' }), 409, 'scan_in_progress');
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
      other.release();
    }
  });

  it('validates asOf: impossible dates and dates out of range are 422, bad formats 400', async () => {
    expectError(await post('/v1/scans', { asOf: '2026-02-30' }), 422, 'invalid_as_of');
    expectError(await post('/v1/scans', { asOf: '1999-12-31' }), 422, 'invalid_as_of');
    expectError(await post('/v1/scans', { asOf: '2101-01-01' }), 422, 'invalid_as_of');
    expectError(await post('/v1/scans', { asOf: '2026/03/01' }), 400);
    expectError(await post('/v1/scans', { asOf: '1 March 2026' }), 400);
    expectError(await post('/v1/scans', { asOf: '2026-03-01', dry: true }), 400);
    const reminders = await get('/v1/reminders?categoryCode=scan-sms');
    expect(reminders.json().items).toEqual([]);
  });

  it('a scan returns what it created and puts one job per message on the queues under the test prefix', async () => {
    const res = await post('/v1/scans', { asOf: AS_OF }, auth(operatorKey));
    expect(res.statusCode, res.body).toBe(200);
    scan = res.json();
    expect(scan).toMatchObject({ asOf: AS_OF, status: 'succeeded', remindersCreated: 4, messagesQueued: 2, undeliverable: 1 });

    const messages = await database.db
      .selectFrom('outgoingMessages')
      .select(['id', 'recipient', 'status'])
      .where('scanId', '=', scan.id as number)
      .orderBy('recipient')
      .execute();
    expect(messages.map((m) => [m.recipient, m.status])).toEqual([
      ['+8613800138000', 'queued'],
      ['+8613900139000', 'queued'],
    ]);
    for (const m of messages) {
      const job = await queues.sms.getJob(`sms-${m.id}`);
      expect(job?.data).toEqual({ messageId: m.id });
      expect(await queueRedis.client.exists(`${queueRedis.prefix}:sms:sms-${m.id}`)).toBe(1);
    }
    expect(await queues.sms.getWaitingCount()).toBe(2);
    expect(await queues.push.getWaitingCount()).toBe(0);

    const history = await get('/v1/scans', auth(viewerKey));
    expect(history.json().items[0]).toMatchObject({ id: scan.id, asOf: AS_OF, remindersCreated: 4 });
  });

  it('running the same scan again creates nothing and queues nothing', async () => {
    const res = await post('/v1/scans', { asOf: AS_OF });
    expect(res.json()).toMatchObject({ status: 'succeeded', remindersCreated: 0, messagesQueued: 0, undeliverable: 0 });
    expect(await queues.sms.getWaitingCount()).toBe(2);
  });

  it('GET /v1/reminders filters by licence number, category, status and outcome', async () => {
    const one = await get(`/v1/reminders?licenseNo=${no.in30}`, auth(viewerKey));
    expect(one.statusCode).toBe(200);
    expect(one.json().items).toEqual([
      expect.objectContaining({
        licenseNo: no.in30,
        categoryCode: 'scan-sms',
        expiresOn: '2026-03-31',
        leadDays: 30,
        asOf: AS_OF,
        status: 'scheduled',
        outcome: 'open',
        deliveries: [expect.objectContaining({ channel: 'sms', status: 'queued', attempts: 0, providerMessageId: null, deliveredAt: null })],
      }),
    ]);

    const undeliverable = await get('/v1/reminders?categoryCode=scan-sms&status=undeliverable');
    expect(undeliverable.json().items).toEqual([expect.objectContaining({ licenseNo: no.in10, leadDays: 10, deliveries: [] })]);

    const all = await get('/v1/reminders?categoryCode=scan-sms&outcome=open');
    expect(all.json().items.map((r: { licenseNo: string }) => r.licenseNo).sort()).toEqual(Object.values(no).sort());
    const leads = Object.fromEntries(all.json().items.map((r: { licenseNo: string; leadDays: number }) => [r.licenseNo, r.leadDays]));
    expect(leads).toEqual({ [no.in30]: 30, [no.in10]: 10, [no.in50]: 60, [no.other]: 30 });

    expect((await get('/v1/reminders?categoryCode=food-business')).json().items).toEqual([]);
    expectError(await get('/v1/reminders?status=lost'), 400);
    expectError(await get('/v1/reminders?outcome=forgotten'), 400);
  });

  it('GET /v1/reminders pages with a cursor', async () => {
    const seen: number[] = [];
    let url: string | null = '/v1/reminders?categoryCode=scan-sms&limit=3';
    while (url) {
      const body: { items: { id: number }[]; nextCursor: string | null } = (await get(url)).json();
      seen.push(...body.items.map((r) => r.id));
      url = body.nextCursor ? `/v1/reminders?categoryCode=scan-sms&limit=3&cursor=${body.nextCursor}` : null;
    }
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('a renewal marks the reminder renewed and cancels its delivery, leaving the other licence in the shared SMS', async () => {
    const current = (await get(`/v1/licenses?licenseNo=${no.in50}`)).json().items[0];
    const { id, createdAt: _c, updatedAt: _u, ...fields } = current;
    // The answer masks the phone and the id number: the sender has its own whole ones.
    const res = await post('/v1/licenses/batch', { licenses: [{ ...fields, holderIdNo: TEST_RESIDENT_ID, phone: '13800138000', expiresOn: '2029-04-20' }] });
    expect(res.json()).toEqual({ created: 0, updated: 0, renewed: 1, unchanged: 0 });

    const renewed = await get(`/v1/reminders?licenseNo=${no.in50}&outcome=renewed`);
    expect(renewed.json().items).toEqual([
      expect.objectContaining({ status: 'cancelled', outcome: 'renewed', deliveries: [expect.objectContaining({ status: 'cancelled' })] }),
    ]);
    const sibling = await get(`/v1/reminders?licenseNo=${no.in30}`);
    expect(sibling.json().items[0]).toMatchObject({ status: 'scheduled', deliveries: [{ status: 'queued' }] });

    const detail = await get(`/v1/licenses/${id}`);
    expect(detail.json()).toMatchObject({
      expiresOn: '2029-04-20',
      reminders: [expect.objectContaining({ expiresOn: '2026-04-20', leadDays: 60, outcome: 'renewed' })],
      renewals: [expect.objectContaining({ oldExpiresOn: '2026-04-20', newExpiresOn: '2029-04-20' })],
    });
  });

  it('/metrics shows queue depth, and counts reminders created and renewals', async () => {
    await queues.counters.flush();
    const created = (await get('/v1/scans')).json().items.reduce((sum: number, scan: { remindersCreated: number }) => sum + scan.remindersCreated, 0);
    expect(created).toBeGreaterThan(0);
    const scrape = async () => {
      const res = await app.inject({ method: 'GET', url: '/metrics', headers: admin });
      expect(res.statusCode).toBe(200);
      return res.body;
    };
    const body = await scrape();
    expect(body).toMatch(/^lr_queue_jobs\{queue="sms",state="waiting"\} 2$/m);
    expect(body).toMatch(/^lr_queue_jobs\{queue="push",state="waiting"\} 0$/m);
    expect(body).toMatch(/^# TYPE lr_reminders_created_total counter$/m);
    expect(body).toMatch(new RegExp(`^lr_reminders_created_total ${created}$`, 'm'));
    const renewals = await database.db.selectFrom('renewals').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(renewals.n).toBeGreaterThan(0);
    expect(body).toMatch(new RegExp(`^lr_renewals_total ${renewals.n}$`, 'm'));
    expect(body).toMatch(/^lr_messages_sent_total\{channel="sms"\} 0$/m);

  });

  it('disabling a category cancels its unsent deliveries and stops new reminders', async () => {
    const { lastEvent } = await database.db
      .selectFrom('deliveryEvents')
      .select((eb) => eb.fn.coalesce(eb.fn.max('id'), eb.lit(0)).as('lastEvent'))
      .executeTakeFirstOrThrow();
    const res = await patch('/v1/categories/scan-sms', { enabled: false });
    expect(res.json()).toMatchObject({ code: 'scan-sms', enabled: false });
    const open = (await get('/v1/reminders?categoryCode=scan-sms&outcome=open')).json().items as { licenseNo: string; status: string }[];
    expect(Object.fromEntries(open.map((r) => [r.licenseNo, r.status]))).toEqual({
      [no.in30]: 'cancelled',
      [no.in10]: 'undeliverable',
      [no.other]: 'cancelled',
    });
    // What the change wrote to the ledger: each cancellation with its cause, and nothing else.
    const written = await database.db
      .selectFrom('deliveryEvents as e')
      .innerJoin('deliveries as d', 'd.id', 'e.deliveryId')
      .innerJoin('reminders as r', 'r.id', 'd.reminderId')
      .innerJoin('licenses as l', 'l.id', 'r.licenseId')
      .select(['l.licenseNo', 'e.status', 'e.cause'])
      .where('e.id', '>', lastEvent)
      .orderBy('l.licenseNo')
      .execute();
    expect(written).toEqual([
      { licenseNo: no.in30, status: 'cancelled', cause: 'category disabled' },
      { licenseNo: no.other, status: 'cancelled', cause: 'category disabled' },
    ]);
    await post('/v1/licenses/batch', { licenses: [licence({ categoryCode: 'scan-sms', licenseNo: 'SCAN-0005', expiresOn: '2026-03-25' })] });
    expect((await post('/v1/scans', { asOf: AS_OF })).json()).toMatchObject({ remindersCreated: 0, messagesQueued: 0 });
  });
});

// ---- the HTTP edges ----------------------------------------------------------------------

describe('HTTP edges', () => {
  it('malformed JSON is a 400 in the error shape', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/categories',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"code": "broken", "name": ',
    });
    expectError(res, 400);
  });

  it('a body over the limit is a 413 in the error shape', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/licenses/batch',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ licenses: ['x'.repeat(9 * 1024 * 1024)] }),
    });
    expectError(res, 413);
  });

  it('an unknown route is a 404 in the error shape', async () => {
    expectError(await get('/v1/nowhere'), 404, 'not_found');
    expectError(await app.inject({ method: 'DELETE', url: '/v1/categories/food-business', headers: admin }), 404);
  });

  it('/healthz and /readyz answer 200 without a key', async () => {
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ postgres: true, redis: true });
  });

  it('/docs/json is an OpenAPI document listing the API', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths['/v1/categories'] ?? {})).toEqual(expect.arrayContaining(['get', 'post']));
    expect(doc.paths).toHaveProperty(['/v1/licenses/batch']);
    expect(doc.paths).toHaveProperty(['/v1/scans']);
  });

  it('/admin/queues needs an operator or admin key', async () => {
    const none = await app.inject({ method: 'GET', url: '/admin/queues' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic/);
    expect(none.body).not.toContain('<html');
    expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: auth('lr_unknown-key-0123456789') })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: auth(viewerKey) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: auth(viewerKey) })).statusCode).toBe(403);

    const operator = await app.inject({ method: 'GET', url: '/admin/queues', headers: auth(operatorKey) });
    expect(operator.statusCode).toBe(200);
    expect(operator.headers['content-type']).toMatch(/text\/html/);
    const api = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: auth(operatorKey) });
    expect(api.statusCode).toBe(200);
    expect(api.body).toContain('"sms"');
    const basic = `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}`;
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: basic } })).statusCode).toBe(200);
  });

  it('/admin/queues writes land in the audit log with the key that made them', async () => {
    const paused = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/sms/pause', headers: admin });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(await queues.sms.isPaused()).toBe(true);
    expect((await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/sms/resume', headers: auth(operatorKey) })).statusCode).toBe(200);
    const entries = (await get('/v1/audit?action=queue.dashboard')).json().items;
    expect(entries.slice(0, 2)).toMatchObject([
      { actor: 'service centre', action: 'queue.dashboard', target: 'queue:sms', after: { request: 'PUT /admin/queues/api/queues/sms/resume', status: 200 } },
      { actor: 'ADMIN_API_KEY', action: 'queue.dashboard', target: 'queue:sms', after: { request: 'PUT /admin/queues/api/queues/sms/pause', status: 200 } },
    ]);
  });

  // bull-board's own error handler would reshape a thrown error; the auth answers itself.
  it('/admin/queues answers 401 and 403 in the contract error shape', async () => {
    expectError(await app.inject({ method: 'GET', url: '/admin/queues' }), 401, 'unauthorized');
    expectError(await app.inject({ method: 'GET', url: '/admin/queues', headers: auth(viewerKey) }), 403, 'forbidden');
  });
});

// Last: a scan for today touches whatever licences the other tests stored.
describe('a scan with no body', () => {
  it('scans for today in the reminder time zone when the request has no body at all', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ asOf: localDate('Asia/Shanghai'), trigger: 'api', status: 'succeeded' });
  });
});
