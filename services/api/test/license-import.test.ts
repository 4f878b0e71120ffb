import { createApiKey } from '@lr/db';
import { LICENSE_FIELDS } from '@lr/domain';
import { eventually, TEST_CREDIT_CODE, TEST_ENTERPRISE, TEST_RESIDENT_ID, testLicense, type TestDatabase } from '@lr/testing';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type App, type TestApp } from './harness';

let testApp: TestApp | undefined;
let app: App;
let database: TestDatabase;
let viewerKey: string;

type Row = Record<string, unknown>;

/** A valid licence row; far from expiry, so nothing else cares about it. */
function licence(overrides: Row = {}): Row {
  return { ...testLicense(), ...overrides };
}

/** One CSV cell: quoted when it holds a comma, a quote, a line break or edge spaces; null and undefined are empty. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV file: a header row of `columns`, then one line per row. */
function toCsv(rows: Row[], columns: readonly string[] = LICENSE_FIELDS, eol = '\n'): string {
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join(eol) + eol;
}

function importCsv(payload: string | Buffer | Readable, headers: Record<string, string> = admin, contentType = 'text/csv') {
  return app.inject({ method: 'POST', url: '/v1/licenses/import', headers: { ...headers, 'content-type': contentType }, payload });
}

async function stored(licenseNo: string, categoryCode = 'food-business') {
  const res = await app.inject({ method: 'GET', url: `/v1/licenses?categoryCode=${categoryCode}&licenseNo=${encodeURIComponent(licenseNo)}`, headers: admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ items: Record<string, unknown>[] }>().items;
}

async function licenceRowCount(): Promise<number> {
  const row = await database.db.selectFrom('licenses').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

const ZERO = { created: 0, updated: 0, renewed: 0, unchanged: 0, rejectedCount: 0, rejected: [] };

beforeAll(async () => {
  testApp = await startTestApp();
  ({ app, database } = testApp);
  viewerKey = (await createApiKey(database.db, 'county office', 'viewer')).key;
  const created = await app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody('food-business') });
  expect(created.statusCode, created.body).toBe(201);
});

afterAll(async () => {
  await testApp?.close();
});

describe('POST /v1/licenses/import', () => {
  it('imports a valid file with a BOM and CRLF lines; absent optional columns are null; the rows are listed', async () => {
    const columns = LICENSE_FIELDS.filter((f) => f !== 'platformUserId' && f !== 'status');
    const rows = [licence({ phone: '+86 138-0013-8001' }), licence({ ...TEST_ENTERPRISE }), licence({ phone: null })];
    const res = await importCsv(`\uFEFF${toCsv(rows, columns, '\r\n')}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...ZERO, created: 3 });

    expect(await stored(rows[0]!.licenseNo as string)).toEqual([
      // the phone as every answer shows it, masked
      expect.objectContaining({ phone: '138****8001', platformUserId: null, status: 'active', expiresOn: '2030-12-31', holderType: 'individual' }),
    ]);
    const enterprise = await stored(rows[1]!.licenseNo as string);
    expect(enterprise).toEqual([expect.objectContaining({ holderType: 'enterprise', holderName: TEST_ENTERPRISE.holderName })]);
    // shown masked: its first three and last four characters
    expect(enterprise[0]!.holderIdNo).toBe(`${TEST_CREDIT_CODE.slice(0, 3)}${'*'.repeat(11)}${TEST_CREDIT_CODE.slice(-4)}`);
    expect(await stored(rows[2]!.licenseNo as string)).toEqual([expect.objectContaining({ phone: null })]);
  });

  it('accepts text/csv; charset=utf-8 and answers zeros for an empty file, a lone BOM and a header alone', async () => {
    for (const body of ['', '\uFEFF', `${LICENSE_FIELDS.join(',')}\n`, `\n\n${LICENSE_FIELDS.join(',')}\n\n`]) {
      const res = await importCsv(body, admin, 'text/csv; charset=utf-8');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual(ZERO);
    }
  });

  it('keeps valid rows and lists each rejected row with its line, field and message; a rejected row changes nothing', async () => {
    const existing = licence({ phone: '13800138000', holderName: '卢氏县老字号' });
    const batch = await app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: [existing] } });
    expect(batch.json()).toMatchObject({ created: 1 });
    const before = await licenceRowCount();

    const good1 = licence();
    const good2 = licence({ holderName: '卢氏县"老张"面馆, 东店' }); // quotes and a comma inside a quoted cell
    const rows = [
      good1, // line 2
      { ...existing, phone: '12345678901', holderName: '改了的名字' }, // line 3: not a mobile number
      licence({ holderName: '卢氏县\n张记面馆' }), // lines 4-5: a quoted line break, refused as a control character
      licence({ validFrom: '2021-02-30', regionCode: '4112' }), // line 6: two problems
      licence({ categoryCode: 'no-such-category' }), // line 7
      good2, // line 8
    ];
    const res = await importCsv(toCsv(rows));
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ created: 2, updated: 0, renewed: 0, unchanged: 0, rejectedCount: 4 });
    expect(body.rejected).toEqual([
      { line: 3, field: 'phone', message: 'not a mainland China mobile number' },
      { line: 4, field: 'holderName', message: 'must not contain control characters' },
      { line: 6, field: 'regionCode', message: expect.stringContaining('6-digit') },
      { line: 6, field: 'validFrom', message: expect.stringContaining('real date') },
      { line: 7, field: 'categoryCode', message: expect.stringContaining('no-such-category') },
    ]);
    expect(await licenceRowCount()).toBe(before + 2);
    expect(await stored(existing.licenseNo as string)).toEqual([expect.objectContaining({ phone: '138****8000', holderName: '卢氏县老字号' })]);
    expect(await stored(good2.licenseNo as string)).toEqual([expect.objectContaining({ holderName: '卢氏县"老张"面馆, 东店' })]);
    expect(await stored('JY-none', 'no-such-category')).toEqual([]);
  });

  it('counts a quoted CRLF as one line in a CRLF file', async () => {
    const rows = [licence({ holderName: 'a\r\nb' }), licence({ holderName: 'c\r\nd' }), licence({ phone: '110' })];
    const res = await importCsv(toCsv(rows, LICENSE_FIELDS, '\r\n'));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rejected.map((r: { line: number; field: string }) => [r.line, r.field])).toEqual([
      [2, 'holderName'],
      [4, 'holderName'],
      [6, 'phone'],
    ]);
  });

  it('rejects a row with more or fewer cells than the header, with its line; blank lines count as lines and are skipped', async () => {
    const good = licence();
    const header = LICENSE_FIELDS.join(',');
    const csv = [header, 'food-business,JY-SHORT,张三', '', toCsv([good]).split('\n')[1], ',,,,,,,,,,', `${toCsv([licence()]).split('\n')[1]},extra`, ''].join('\n');
    const res = await importCsv(csv);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      ...ZERO,
      created: 1,
      rejectedCount: 2,
      rejected: [
        { line: 2, field: '(row)', message: 'has 3 cells; the header has 11' },
        { line: 6, field: '(row)', message: 'has 12 cells; the header has 11' },
      ],
    });
    expect(await stored(good.licenseNo as string)).toHaveLength(1);
  });

  it('applies a key repeated later in the file in file order: the last row wins, a later date is a renewal', async () => {
    const first = licence({ expiresOn: '2030-12-31' });
    const other = licence();
    const rows = [first, other, { ...first, expiresOn: '2031-06-30' }, { ...first, expiresOn: '2032-06-30', holderName: '卢氏县张记面馆（新址）' }];
    const res = await importCsv(toCsv(rows));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...ZERO, created: 2, renewed: 2 });
    const [licenceNow] = await stored(first.licenseNo as string);
    expect(licenceNow).toMatchObject({ expiresOn: '2032-06-30', holderName: '卢氏县张记面馆（新址）' });
    const detail = await app.inject({ method: 'GET', url: `/v1/licenses/${String(licenceNow!.id)}`, headers: admin });
    expect(detail.json().renewals).toHaveLength(2);

    // the same file again: its rows, applied in order, go back and forth and end where they ended
    const again = await importCsv(toCsv(rows));
    expect(again.json()).toEqual({ ...ZERO, unchanged: 1, updated: 1, renewed: 2 });
    // a file without repeats, imported twice: all unchanged the second time
    const plain = [licence(), licence({ ...TEST_ENTERPRISE }), licence({ phone: null, status: 'revoked' })];
    expect((await importCsv(toCsv(plain))).json()).toEqual({ ...ZERO, created: 3 });
    expect((await importCsv(toCsv(plain))).json()).toEqual({ ...ZERO, unchanged: 3 });
  });

  it('refuses a header with a missing required column or an unknown one with 422 before reading any row', async () => {
    const before = await licenceRowCount();
    const noId = LICENSE_FIELDS.filter((f) => f !== 'holderIdNo');
    const missing = expectError(await importCsv(toCsv([licence()], noId)), 422, 'invalid_csv_header');
    expect(missing.message).toContain('holderIdNo');
    expect(missing.details).toEqual([{ field: 'holderIdNo', message: 'required column is missing' }]);

    const unknown = expectError(await importCsv(toCsv([licence()], [...LICENSE_FIELDS, 'colour', 'licenceNo'])), 422, 'invalid_csv_header');
    expect(unknown.message).toContain('"colour"');
    expect(unknown.message).toContain('"licenceNo"');
    expect(unknown.details).toEqual([
      { field: 'colour', message: 'unknown column' },
      { field: 'licenceNo', message: 'unknown column' },
    ]);
    const twice = expectError(await importCsv(toCsv([licence()], [...LICENSE_FIELDS, 'phone'])), 422, 'invalid_csv_header');
    expect(twice.details).toEqual([{ field: 'phone', message: 'column appears twice' }]);
    expect(await licenceRowCount()).toBe(before);
  });

  it('stops at a broken CSV structure with 422 naming the line; the rows before it are kept', async () => {
    const kept = [licence(), licence()];
    const after = licence();
    const lines = toCsv([...kept, after]).trimEnd().split('\n');
    // line 4 opens a quote that never closes; the row after it is swallowed
    const csv = [...lines.slice(0, 3), 'food-business,"JY-BROKEN,张三,individual', lines[3], ''].join('\n');
    const error = expectError(await importCsv(csv), 422, 'invalid_csv');
    expect(error.message).toMatch(/^line 4: .*never closed/);
    expect(error.details).toMatchObject({ line: 4, created: 2, rejectedCount: 0 });
    for (const row of kept) expect(await stored(row.licenseNo as string)).toHaveLength(1);
    expect(await stored(after.licenseNo as string)).toEqual([]);

    // text after a closing quote, mid-file: nothing from that line on is read
    const more = [licence(), licence(), licence()];
    const moreLines = toCsv(more).trimEnd().split('\n');
    const bad = [moreLines[0], moreLines[1], 'food-business,"JY-X"Y,张三', moreLines[2], moreLines[3]].join('\n');
    const stop = expectError(await importCsv(bad), 422, 'invalid_csv');
    expect(stop.details).toMatchObject({ line: 3, created: 1 });
    expect(await stored(more[2]!.licenseNo as string)).toEqual([]);
  });

  it('stops at a quote left open over the following rows (the row grows past 64 KiB) and at a line of a million commas', async () => {
    const kept = licence();
    const [header, keptLine] = toCsv([kept]).trimEnd().split('\n');
    const following = Array.from({ length: 1_000 }, () => toCsv([licence()]).split('\n')[1]);
    const open = [header, keptLine, '', 'food-business,"JY-OPEN,张三', ...following, ''].join('\n');
    const error = expectError(await importCsv(open), 422, 'invalid_csv');
    expect(error.message).toMatch(/^line 4: .*longer than 65536 bytes.*never closed/);
    expect(error.details).toMatchObject({ line: 4, created: 1, rejectedCount: 0 });
    expect(await stored(kept.licenseNo as string)).toHaveLength(1);

    const commas = [header, toCsv([licence()]).split('\n')[1], ','.repeat(3_000_000), toCsv([licence()]).split('\n')[1], ''].join('\n');
    const long = expectError(await importCsv(commas), 422, 'invalid_csv');
    expect(long.message).toMatch(/^line 3: .*longer than 1048576 bytes/);
    expect(long.details).toMatchObject({ line: 3, created: 1 });
  });

  it('keeps the rows read when the client goes away mid-upload', async () => {
    // A real connection: the client sends part of the file, then drops the socket.
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    // A whole chunk (1,000 rows) goes to the database as soon as it is read: its licences in the
    // store show that the server has read them, and the socket is dropped only then.
    const rows = Array.from({ length: 1_000 }, () => licence());
    const before = await licenceRowCount();
    const { hostname, port } = new URL(address);
    const req = request({ host: hostname, port, method: 'POST', path: '/v1/licenses/import', headers: { ...admin, 'content-type': 'text/csv' } });
    req.on('error', () => undefined);
    // the whole rows, then half of one: that half is not a row
    req.write(`${toCsv(rows)}food-business,JY-HALF,卢氏县张记面馆,individual,${TEST_RESIDENT_ID},138`);
    await eventually(async () => ((await licenceRowCount()) === before + rows.length ? true : undefined), 15_000, 'the first chunk written');
    req.destroy();
    const audited = async () => {
      const res = await app.inject({ method: 'GET', url: '/v1/audit?action=licenses.import&limit=1', headers: admin });
      return res.json<{ items: { after: Record<string, unknown> }[] }>().items[0]?.after;
    };
    await eventually(async () => ((await audited())?.cutOffAfterLine === undefined ? undefined : true), 10_000, 'the import recorded as cut off');
    expect(await audited()).toEqual({ rows: 1_000, created: 1_000, updated: 0, renewed: 0, unchanged: 0, rejectedCount: 0, cutOffAfterLine: 1_001 });
    expect(await licenceRowCount()).toBe(before + rows.length);
    expect(await stored(rows[0]!.licenseNo as string)).toHaveLength(1);
    expect(await stored('JY-HALF')).toEqual([]);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers 415 in the error shape for another content type or charset, and reads nothing', async () => {
    const csv = toCsv([licence()]);
    expectError(await importCsv(csv, admin, 'application/json'), 415, 'unsupported_media_type');
    expectError(await importCsv(csv, admin, 'text/plain'), 415, 'unsupported_media_type');
    const gbk = expectError(await importCsv(csv, admin, 'text/csv; charset=gbk'), 415, 'unsupported_media_type');
    expect(gbk.message).toContain('UTF-8');
    expectError(await app.inject({ method: 'POST', url: '/v1/licenses/import', headers: admin }), 415, 'unsupported_media_type');
  });

  it('needs an admin key: 401 without one, 403 for a viewer', async () => {
    const row = licence();
    expectError(await importCsv(toCsv([row]), {}), 401, 'unauthorized');
    expectError(await importCsv(toCsv([row]), auth(viewerKey)), 403, 'forbidden');
    expect(await stored(row.licenseNo as string)).toEqual([]);
  });

  it('is documented in the OpenAPI document as taking text/csv', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const op = doc.paths['/v1/licenses/import'].post;
    expect(op.tags).toEqual(['licenses']);
    expect(op.description).toMatch(/CSV/);
    expect(Object.keys(op.requestBody.content)).toEqual(['text/csv']);
  });

  it('streams a file of 25,000 rows larger than the JSON body limit, and caps the listed rejections at 10,000', async () => {
    const header = LICENSE_FIELDS.join(',');
    // holderName padded with spaces (trimmed by validation) so that the file is over the 8 MiB body limit
    const padding = ' '.repeat(300);
    const line = (i: number, phone: string) =>
      `food-business,BULK${String(i).padStart(6, '0')},"卢氏县张记面馆${padding}",individual,${TEST_RESIDENT_ID},${phone},,411224,2021-04-01,2030-12-31,active`;
    const rows = 25_000;
    const size = Buffer.byteLength(`${header}\n${line(0, '13800138000')}\n`) * rows;
    expect(size).toBeGreaterThan(8 * 1024 * 1024);
    function* file() {
      yield Buffer.from(`\uFEFF${header}\n`);
      for (let from = 0; from < rows; from += 1_000) {
        const lines: string[] = [];
        for (let i = from; i < from + 1_000; i++) lines.push(line(i, '13800138000'));
        yield Buffer.from(`${lines.join('\n')}\n`);
      }
    }
    const started = performance.now();
    const res = await importCsv(Readable.from(file()));
    const seconds = (performance.now() - started) / 1000;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...ZERO, created: rows });
    console.info(`imported ${rows} rows (${(size / 1024 / 1024).toFixed(1)} MiB) in ${seconds.toFixed(2)} s: ${Math.round(rows / seconds)} rows/s`);
    expect(await stored('BULK024999')).toHaveLength(1);

    // 10,050 bad rows (not a mobile number), then one good one
    const bad = 10_050;
    const csv = [header, ...Array.from({ length: bad }, (_, i) => line(100_000 + i, '12345678901')), line(200_000, '13800138000'), ''].join('\n');
    const capped = await importCsv(csv);
    expect(capped.statusCode).toBe(200);
    const body = capped.json();
    expect(body).toMatchObject({ created: 1, rejectedCount: bad });
    expect(body.rejected).toHaveLength(10_000);
    expect(body.rejected[0]).toEqual({ line: 2, field: 'phone', message: 'not a mainland China mobile number' });
    expect(body.rejected[9_999]).toEqual({ line: 10_001, field: 'phone', message: 'not a mainland China mobile number' });
  });
});
