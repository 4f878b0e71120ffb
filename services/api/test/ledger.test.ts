import { createApiKey } from '@lr/db';
import { maskHolderName, maskIdNo } from '@lr/domain';
import { eventually, holdLock, TEST_ENTERPRISE, TEST_RESIDENT_ID, testLicense } from '@lr/testing';
import { sql } from 'kysely';
import Papa from 'papaparse';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type App, type TestApp } from './harness';

const EN_HEADER =
  'asOf,categoryCode,categoryName,licenseNo,holderName,holderType,holderIdNo,phone,regionCode,expiresOn,leadDays,channel,status,attempts,sentAt,deliveredAt,errorCode,outcome';
const ZH_HEADER =
  '提醒日期,证照类别代码,证照类别,证照编号,持证人,持证人类型,证件号码,手机号码,行政区划,到期日期,提前天数,提醒方式,状态,尝试次数,发送时间,送达时间,错误代码,续证结果';

/** Scan dates: the first finds its licences 30 days out, the second 10 days out. */
const FIRST_SCAN = '2031-01-01';
const SECOND_SCAN = '2031-01-21';
const EXPIRES = '2031-01-31';
/** Stored after the API took the licence: the API refuses control characters in names, older data may hold them. */
const NAME_WITH_LINE_BREAK = '卢氏县"豫西"餐饮, 有限公司\n第二分店';

let testApp: TestApp | undefined;
let app: App;
let operator: Record<string, string>;
let viewer: Record<string, string>;

type Row = Record<string, string>;

function get(url: string, headers: Record<string, string> = operator) {
  return app.inject({ method: 'GET', url, headers });
}

/** The CSV body without its BOM, parsed by a real CSV parser into rows keyed by the header. */
function parse(body: string): { header: string[]; rows: Row[] } {
  expect(body.startsWith('\uFEFF')).toBe(true);
  const parsed = Papa.parse<Row>(body.slice(1), { header: true, skipEmptyLines: true });
  expect(parsed.errors).toEqual([]);
  return { header: parsed.meta.fields ?? [], rows: parsed.data };
}

async function ledger(query = ''): Promise<Row[]> {
  const res = await get(`/v1/ledger.csv${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return parse(res.body).rows;
}

const licences = {
  // an individual with SMS and push: two deliveries a reminder
  both: testLicense({ licenseNo: 'LEDGER-BOTH', holderName: '张三丰', phone: '13812345678', platformUserId: 'hn-app-1', expiresOn: EXPIRES }),
  // an enterprise whose name needs CSV quoting; SMS only
  enterprise: testLicense({ ...TEST_ENTERPRISE, licenseNo: 'LEDGER-ENT', holderName: '卢氏县"豫西"餐饮, 有限公司', phone: '13900001111', expiresOn: EXPIRES }),
  // no phone, no app account: undeliverable
  unreachable: testLicense({ licenseNo: 'LEDGER-NONE', holderName: '王', phone: null, expiresOn: EXPIRES }),
  // another city of Henan (Zhengzhou 4101), another category, a name outside the BMP
  zhengzhou: testLicense({
    categoryCode: 'road-transport',
    licenseNo: 'LEDGER-ZZ',
    holderName: '𠀀三',
    phone: '13700002222',
    regionCode: '410102',
    expiresOn: EXPIRES,
  }),
  // Lushi's neighbour in the same city (4112), another county
  neighbour: testLicense({ licenseNo: 'LEDGER-NB', holderName: '李四', phone: '13600003333', regionCode: '411221', expiresOn: EXPIRES }),
  // outside Henan (Beijing)
  beijing: testLicense({ licenseNo: 'LEDGER-BJ', holderName: '赵六', phone: '13500004444', regionCode: '110101', expiresOn: EXPIRES }),
};

/** Sets one delivery's message (and the delivery) to a state, as the workers would have left it. */
async function setMessage(
  licenseNo: string,
  asOf: string,
  channel: 'sms' | 'push',
  state: { status: string; attempts: number; sentAt?: string; deliveredAt?: string; errorCode?: string },
) {
  const { db } = testApp!.database;
  const { rows } = await sql<{ messageId: number; deliveryId: number }>`
    select d.message_id as "messageId", d.id as "deliveryId"
      from deliveries d join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where l.license_no = ${licenseNo} and r.as_of = ${asOf} and d.channel = ${channel}`.execute(db);
  expect(rows).toHaveLength(1);
  await sql`update outgoing_messages set status = ${state.status}, attempts = ${state.attempts}, sent_at = ${state.sentAt ?? null},
                   delivered_at = ${state.deliveredAt ?? null}, error_code = ${state.errorCode ?? null}
             where id = ${rows[0]!.messageId}`.execute(db);
  await sql`update deliveries set status = ${state.status} where id = ${rows[0]!.deliveryId}`.execute(db);
}

beforeAll(async () => {
  testApp = await startTestApp();
  app = testApp.app;
  operator = auth((await createApiKey(testApp.database.db, 'service centre', 'operator')).key);
  viewer = auth((await createApiKey(testApp.database.db, 'county office', 'viewer')).key);
  for (const code of ['food-business', 'road-transport']) {
    const created = await app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody(code) });
    expect(created.statusCode, created.body).toBe(201);
  }
  const batch = await app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: Object.values(licences) } });
  expect(batch.statusCode, batch.body).toBe(200);
  await sql`update licenses set holder_name = ${NAME_WITH_LINE_BREAK} where license_no = 'LEDGER-ENT'`.execute(testApp.database.db);
  for (const asOf of [FIRST_SCAN, SECOND_SCAN]) {
    const scan = await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf } });
    expect(scan.statusCode, scan.body).toBe(200);
    expect(scan.json()).toMatchObject({ status: 'succeeded', remindersCreated: 6 });
  }
  // 09:30 in Shanghai is 01:30 UTC.
  await setMessage('LEDGER-BOTH', FIRST_SCAN, 'sms', {
    status: 'delivered',
    attempts: 1,
    sentAt: '2031-01-01T01:30:00Z',
    deliveredAt: '2031-01-01T01:30:05Z',
  });
  await setMessage('LEDGER-BOTH', FIRST_SCAN, 'push', { status: 'failed', attempts: 8, errorCode: 'gateway_unreachable' });
  await setMessage('LEDGER-ENT', FIRST_SCAN, 'sms', { status: 'undelivered', attempts: 1, sentAt: '2031-01-01T16:05:09Z', errorCode: '30003' });
});

afterAll(async () => {
  await testApp?.close();
});

describe('GET /v1/ledger.csv', () => {
  it('answers a CSV download: UTF-8 with a BOM, attachment with a file name, the English header', async () => {
    const res = await get('/v1/ledger.csv');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="ledger_all_all.csv"');
    expect([...res.rawPayload.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(res.body.slice(1).split('\n')[0]).toBe(EN_HEADER);
  });

  it('heads the same columns in Chinese with lang=zh, and keeps the values as codes', async () => {
    const res = await get(`/v1/ledger.csv?lang=zh&from=${FIRST_SCAN}&to=${FIRST_SCAN}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="ledger_${FIRST_SCAN}_${FIRST_SCAN}.csv"; filename*=UTF-8''${encodeURIComponent('工作台账')}_${FIRST_SCAN}_${FIRST_SCAN}.csv`,
    );
    const { header, rows } = parse(res.body);
    expect(header.join(',')).toBe(ZH_HEADER);
    const english = await ledger(`?from=${FIRST_SCAN}&to=${FIRST_SCAN}`);
    expect(rows.map((r) => Object.values(r))).toEqual(english.map((r) => Object.values(r)));
    expect(rows.map((r) => r['状态'])).toContain('delivered');
    expect(rows.map((r) => r['提醒方式'])).toEqual(expect.arrayContaining(['sms', 'push', '']));
  });

  it('has one row per delivery, and one with no channel, status undeliverable, for a reminder without deliveries', async () => {
    const rows = await ledger();
    const { rows: counts } = await sql<{ deliveries: number; bare: number }>`
      select (select count(*)::int from deliveries) as deliveries,
             (select count(*)::int from reminders r where not exists (select 1 from deliveries d where d.reminder_id = r.id)) as bare`.execute(
      testApp!.database.db,
    );
    expect(rows).toHaveLength(counts[0]!.deliveries + counts[0]!.bare);
    expect(rows.filter((r) => r.licenseNo === 'LEDGER-BOTH').map((r) => [r.asOf, r.leadDays, r.channel])).toEqual([
      [FIRST_SCAN, '30', 'push'],
      [FIRST_SCAN, '30', 'sms'],
      [SECOND_SCAN, '10', 'push'],
      [SECOND_SCAN, '10', 'sms'],
    ]);
    const undeliverable = rows.filter((r) => r.licenseNo === 'LEDGER-NONE');
    expect(undeliverable).toHaveLength(2);
    for (const row of undeliverable) {
      expect(row).toMatchObject({ channel: '', status: 'undeliverable', attempts: '', sentAt: '', deliveredAt: '', errorCode: '', phone: '' });
    }
  });

  it('orders rows by scan date, then reminder, then channel', async () => {
    const rows = await ledger();
    const { rows: reminders } = await sql<{ licenseNo: string; asOf: string; id: number }>`
      select l.license_no as "licenseNo", r.as_of as "asOf", r.id from reminders r join licenses l on l.id = r.license_id`.execute(testApp!.database.db);
    const reminderId = new Map(reminders.map((r) => [`${r.licenseNo}/${r.asOf}`, r.id]));
    const keys = rows.map((r) => [r.asOf!, reminderId.get(`${r.licenseNo}/${r.asOf}`)!, r.channel!] as const);
    const sorted = [...keys].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[2].localeCompare(b[2]));
    expect(keys).toEqual(sorted);
    // both scan dates are there, so the order across dates is checked too
    expect(new Set(keys.map((k) => k[0])).size).toBe(2);
  });

  it('fills each column from the licence, the reminder, and the delivery with its message', async () => {
    const rows = await ledger(`?from=${FIRST_SCAN}&to=${FIRST_SCAN}`);
    const sms = rows.find((r) => r.licenseNo === 'LEDGER-BOTH' && r.channel === 'sms');
    expect(sms).toEqual({
      asOf: FIRST_SCAN,
      categoryCode: 'food-business',
      categoryName: '食品经营许可证',
      licenseNo: 'LEDGER-BOTH',
      holderName: '张**',
      holderType: 'individual',
      holderIdNo: maskIdNo(TEST_RESIDENT_ID),
      phone: '138****5678',
      regionCode: '411224',
      expiresOn: EXPIRES,
      leadDays: '30',
      channel: 'sms',
      status: 'delivered',
      attempts: '1',
      sentAt: '2031-01-01T09:30:00+08:00',
      deliveredAt: '2031-01-01T09:30:05+08:00',
      errorCode: '',
      outcome: 'open',
    });
    const push = rows.find((r) => r.licenseNo === 'LEDGER-BOTH' && r.channel === 'push');
    expect(push).toMatchObject({ status: 'failed', attempts: '8', sentAt: '', deliveredAt: '', errorCode: 'gateway_unreachable' });
    // 16:05 UTC is past midnight in Shanghai: the local date moves too.
    const enterprise = rows.find((r) => r.licenseNo === 'LEDGER-ENT');
    expect(enterprise).toMatchObject({ status: 'undelivered', sentAt: '2031-01-02T00:05:09+08:00', errorCode: '30003' });
    const queued = rows.find((r) => r.licenseNo === 'LEDGER-NB');
    expect(queued).toMatchObject({ channel: 'sms', status: 'queued', attempts: '0', sentAt: '' });
  });

  it('masks personal data: phones, id numbers and individuals\' names; an enterprise\'s name stays whole, quoted through CSV', async () => {
    const res = await get('/v1/ledger.csv');
    const { rows } = parse(res.body);
    for (const phone of ['13812345678', '13900001111', '13700002222', '13600003333']) expect(res.body).not.toContain(phone.slice(3, 7));
    expect(res.body).not.toContain(TEST_RESIDENT_ID);
    expect(res.body).not.toContain(TEST_ENTERPRISE.holderIdNo);
    expect(res.body).not.toContain('张三丰');
    const names = new Map(rows.map((r) => [r.licenseNo, r]));
    expect(names.get('LEDGER-BOTH')).toMatchObject({ holderName: '张**', phone: '138****5678' });
    expect(names.get('LEDGER-ZZ')).toMatchObject({ holderName: '𠀀*', phone: '137****2222' });
    expect(names.get('LEDGER-ZZ')!.holderName).toBe(maskHolderName('𠀀三', 'individual'));
    expect(names.get('LEDGER-NONE')).toMatchObject({ holderName: '王', phone: '' });
    expect(names.get('LEDGER-ENT')).toMatchObject({
      holderName: NAME_WITH_LINE_BREAK,
      holderType: 'enterprise',
      holderIdNo: maskIdNo(TEST_ENTERPRISE.holderIdNo),
      phone: '139****1111',
    });
  });

  it('filters by scan date, both ends included', async () => {
    const asOfs = async (query: string) => [...new Set((await ledger(query)).map((r) => r.asOf))];
    expect(await asOfs(`?from=${SECOND_SCAN}`)).toEqual([SECOND_SCAN]);
    expect(await asOfs(`?to=${FIRST_SCAN}`)).toEqual([FIRST_SCAN]);
    expect(await asOfs(`?from=${SECOND_SCAN}&to=${SECOND_SCAN}`)).toEqual([SECOND_SCAN]);
    expect(await asOfs(`?from=2031-01-02&to=2031-01-20`)).toEqual([]);
    expect(await asOfs(`?from=${FIRST_SCAN}&to=${SECOND_SCAN}`)).toEqual([FIRST_SCAN, SECOND_SCAN]);
    const res = await get('/v1/ledger.csv?from=2031-01-02&to=2031-01-20');
    expect(res.body).toBe(`\uFEFF${EN_HEADER}\n`);
    expect(res.headers['content-disposition']).toBe('attachment; filename="ledger_2031-01-02_2031-01-20.csv"');
  });

  it('filters by category and by region: a county (6 digits), a city (4) or a province (2)', async () => {
    const licenceNos = async (query: string) => [...new Set((await ledger(query)).map((r) => r.licenseNo))].sort();
    expect(await licenceNos('?categoryCode=road-transport')).toEqual(['LEDGER-ZZ']);
    expect(await licenceNos('?regionCode=411224')).toEqual(['LEDGER-BOTH', 'LEDGER-ENT', 'LEDGER-NONE']);
    expect(await licenceNos('?regionCode=4112')).toEqual(['LEDGER-BOTH', 'LEDGER-ENT', 'LEDGER-NB', 'LEDGER-NONE']);
    expect(await licenceNos('?regionCode=41')).toEqual(['LEDGER-BOTH', 'LEDGER-ENT', 'LEDGER-NB', 'LEDGER-NONE', 'LEDGER-ZZ']);
    expect(await licenceNos('?regionCode=11')).toEqual(['LEDGER-BJ']);
    expect(await licenceNos('?regionCode=41&categoryCode=food-business&from=2031-01-21')).toEqual([
      'LEDGER-BOTH',
      'LEDGER-ENT',
      'LEDGER-NB',
      'LEDGER-NONE',
    ]);
  });

  it.each([
    ['a date that is no day', '?from=2031-02-30'],
    ['a malformed date', '?to=31-01-2031'],
    ['from after to', `?from=${SECOND_SCAN}&to=${FIRST_SCAN}`],
    ['an unknown language', '?lang=fr'],
    ['a region of three digits', '?regionCode=123'],
    ['a region of letters', '?regionCode=41ab'],
    ['an unknown category', '?categoryCode=no-such-category'],
    ['an unknown parameter', '?format=xlsx'],
  ])('refuses %s with 400 invalid_request', async (_what, query) => {
    expectError(await get(`/v1/ledger.csv${query}`), 400, 'invalid_request');
  });

  it('is for operators and admins: 401 without a key, 403 for a viewer', async () => {
    expectError(await get('/v1/ledger.csv', {}), 401, 'unauthorized');
    expectError(await get('/v1/ledger.csv', viewer), 403, 'forbidden');
    expect((await get('/v1/ledger.csv', operator)).statusCode).toBe(200);
    expect((await get('/v1/ledger.csv', admin)).statusCode).toBe(200);
  });
});

// ---- streaming over a real socket ----------------------------------------------------------

const BIG_SCAN = '2032-06-01';
const BIG_REMINDERS = 60_000;

/** Opens the download over HTTP and answers once the first bytes are in (given with it), the response paused. */
async function openDownload(query: string): Promise<{ res: IncomingMessage; first: string }> {
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: `/v1/ledger.csv${query}`, headers: operator }, (res) => {
      res.setEncoding('utf8').once('data', (first: string) => {
        res.pause();
        resolve({ res, first });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function runningCopies(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
     where datname = current_database() and query ilike 'copy (%' and state <> 'idle'`.execute(testApp!.database.db);
  return rows[0]!.n;
}

const checkedOut = () => testApp!.database.pool.totalCount - testApp!.database.pool.idleCount;

describe('GET /v1/ledger.csv over a socket', () => {
  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    // Many reminders of one licence on a later day: enough rows (about 13 MB) that PostgreSQL waits on a slow reader.
    await sql`
      insert into reminders (license_id, expires_on, lead_days, as_of, days_left, scan_id)
      select r.license_id, date '2040-01-01' + g, 30, ${BIG_SCAN}, 30, r.scan_id
        from (select license_id, scan_id from reminders limit 1) r, generate_series(1, ${BIG_REMINDERS}) g`.execute(testApp!.database.db);
  });

  it('streams every row of a large ledger', async () => {
    const { res, first } = await openDownload(`?from=${BIG_SCAN}`);
    let text = first;
    res.on('data', (chunk: string) => (text += chunk));
    res.resume();
    await new Promise((resolve) => res.on('end', resolve));
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(parse(text).rows).toHaveLength(BIG_REMINDERS);
  });

  it('a client that goes away midway stops the COPY, and the connection goes back to the pool', async () => {
    // The COPY waits on a lock, so it is surely still running when the client leaves (socket
    // buffers on this machine hold tens of MB: a COPY that is not held may well have ended).
    const lock = await holdLock(testApp!.database.pool, 'lock table outgoing_messages in access exclusive mode');
    const { res, first } = await openDownload(`?from=${BIG_SCAN}`);
    expect(first).toBe(`\uFEFF${EN_HEADER}\n`);
    await eventually(async () => (await runningCopies()) === 1 || undefined, 15_000, 'the COPY runs');
    res.destroy();
    await eventually(async () => (await runningCopies()) === 0 || undefined, 15_000, 'the COPY stopped');
    await lock.release();
    await eventually(() => checkedOut() === 0 || undefined, 15_000, 'its connection came back');
    expect((await ledger(`?from=${FIRST_SCAN}&to=${FIRST_SCAN}`)).length).toBeGreaterThan(0);
  });

  it('runs two reports at once (REPORT_CONCURRENCY): one more is answered 429 until a place comes free, and the rest of the API is not held up', async () => {
    const lock = await holdLock(testApp!.database.pool, 'lock table outgoing_messages in access exclusive mode');
    const downloads = [await openDownload(`?from=${BIG_SCAN}`), await openDownload(`?from=${BIG_SCAN}`)];
    await eventually(async () => (await runningCopies()) === 2 || undefined, 15_000, 'both COPYs run');
    for (const url of ['/v1/stats', '/v1/forecast', `/v1/ledger.csv?from=${FIRST_SCAN}`]) {
      const busy = await app.inject({ method: 'GET', url, headers: admin });
      expectError(busy, 429, 'rate_limited');
      expect(busy.headers['retry-after'], url).toBe('5');
    }
    expect((await app.inject({ method: 'GET', url: '/v1/categories', headers: admin })).statusCode).toBe(200);
    downloads[0]!.res.destroy();
    await eventually(async () => (await app.inject({ method: 'GET', url: '/v1/stats', headers: admin })).statusCode === 200 || undefined, 15_000, 'a place came free');
    downloads[1]!.res.destroy();
    await lock.release();
    await eventually(async () => (await runningCopies()) === 0 || undefined, 15_000, 'the COPYs stopped');
    await eventually(() => checkedOut() === 0 || undefined, 15_000, 'their connections came back');
  });

  it('a database failure midway cuts the response off: never a complete-looking 200', async () => {
    const lock = await holdLock(testApp!.database.pool, 'lock table outgoing_messages in access exclusive mode');
    const { res, first } = await openDownload(`?from=${BIG_SCAN}`);
    expect(res.statusCode).toBe(200);
    await eventually(async () => (await runningCopies()) === 1 || undefined, 15_000, 'the COPY runs');
    // Someone cancels the statement (an operator; a restart would do the same).
    await sql`select pg_cancel_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'copy (%'`.execute(
      testApp!.database.db,
    );
    let text = first;
    res.on('data', (chunk: string) => (text += chunk));
    const ended = await new Promise<string>((resolve) => {
      res.on('end', () => resolve('end'));
      res.on('error', () => resolve('error'));
      res.on('aborted', () => resolve('aborted'));
      res.resume();
    });
    await lock.release();
    expect(ended).not.toBe('end');
    expect(res.complete).toBe(false);
    expect(text).toBe(`\uFEFF${EN_HEADER}\n`);
    await eventually(() => checkedOut() === 0 || undefined, 15_000, 'the connection came back');
    expect((await ledger(`?from=${FIRST_SCAN}&to=${FIRST_SCAN}`)).length).toBeGreaterThan(0);
  });
});
