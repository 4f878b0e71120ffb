/**
 * GET /r/{token}: the personal renewal links of outgoing messages, opened as a holder's phone
 * opens them, on messages made by real scans. Dates are counted from today (Shanghai), since
 * a link lapses 90 days after the latest expiry date its message names.
 *
 *   licence       category  phone  expires        scanned at     the link
 *   A             food      P1     today+30       today          302 to its renewal, number URL-encoded
 *   B1, B2        food/water P2    today+30/+25   today          a page listing both
 *   C             food      P3     today-90       today-110/-100 works: the 90th day after expiry
 *   D             food      P4     today-91       today-110/-101 lapsed: 404
 *   E1, E2        food      P5     today-100/-80  today-110      works (E2 is the latest): a page
 *   F1, F2        food      P6     today+30/+20   today          F2 renewed before sending: 302 to F1
 *   G             food      P7     today+30       today          revoked before sending: 404
 *   H             broken    P8     today+30       today          a page: its category's URL is no address
 */
import { addDays, localDate } from '@lr/domain';
import { testLicense } from '@lr/testing';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, categoryBody, expectError, startTestApp, type TestApp } from './harness';

const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';
const TODAY = localDate('Asia/Shanghai');
const day = (offset: number) => addDays(TODAY, offset);

/** A licence number that needs encoding in a URL: spaces, a slash, an ampersand, Chinese. */
const A_NO = '豫食 2021/7&8';
const B2_NO = 'QS<b>"&\'2';

const LICENCES = [
  { licenseNo: A_NO, categoryCode: 'food', phone: '13900000001', expiresOn: day(30) },
  { licenseNo: 'JY-B1', categoryCode: 'food', phone: '13900000002', expiresOn: day(30) },
  { licenseNo: B2_NO, categoryCode: 'water', phone: '13900000002', expiresOn: day(25) },
  { licenseNo: 'JY-C', categoryCode: 'food', phone: '13900000003', expiresOn: day(-90) },
  { licenseNo: 'JY-D', categoryCode: 'food', phone: '13900000004', expiresOn: day(-91) },
  { licenseNo: 'JY-E1', categoryCode: 'food', phone: '13900000005', expiresOn: day(-100) },
  { licenseNo: 'JY-E2', categoryCode: 'food', phone: '13900000005', expiresOn: day(-80) },
  { licenseNo: 'JY-F1', categoryCode: 'food', phone: '13900000006', expiresOn: day(30) },
  { licenseNo: 'JY-F2', categoryCode: 'food', phone: '13900000006', expiresOn: day(20) },
  { licenseNo: 'JY-G', categoryCode: 'food', phone: '13900000007', expiresOn: day(30) },
  { licenseNo: 'JY-H', categoryCode: 'broken', phone: '13900000008', expiresOn: day(30) },
];
const row = (licenseNo: string, changes: Record<string, unknown> = {}) => testLicense({ ...LICENCES.find((l) => l.licenseNo === licenseNo)!, ...changes });

let t: TestApp;

async function scan(asOf: string) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf } });
  expect(res.statusCode, res.body).toBe(200);
}

async function load(licenses: ReturnType<typeof testLicense>[]) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses } });
  expect(res.statusCode, res.body).toBe(200);
}

/** The token of the latest message that carried a delivery of the licence's. */
async function tokenOf(licenseNo: string): Promise<string> {
  const { rows } = await sql<{ linkToken: string }>`
    select m.link_token from outgoing_messages m
      join deliveries d on d.message_id = m.id join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where l.license_no = ${licenseNo} order by m.id desc limit 1`.execute(t.database.db);
  expect(rows, licenseNo).toHaveLength(1);
  return rows[0]!.linkToken;
}

async function openings(token: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from link_openings o join outgoing_messages m on m.id = o.message_id where m.link_token = ${token}`.execute(t.database.db);
  return rows[0]!.n;
}

async function allOpenings(): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from link_openings`.execute(t.database.db);
  return rows[0]!.n;
}

const open = (path: string, method: 'GET' | 'HEAD' = 'GET') => t.app.inject({ method, url: path });

/** The Chinese 404 page of a link that does not work, kept by no cache. */
function expectNotFoundPage(res: LightMyRequestResponse, what: string) {
  expect(res.statusCode, `${what}: ${res.body.slice(0, 200)}`).toBe(404);
  expect(res.headers['content-type'], what).toBe('text/html; charset=utf-8');
  expect(res.body).toContain('<html lang="zh-CN">');
  expect(res.body).toContain('链接无效或已过期');
  expect(res.headers['cache-control'], what).toBe('no-store');
}

beforeAll(async () => {
  t = await startTestApp({ PUBLIC_BASE_URL });
  for (const body of [
    categoryBody('food', { channels: ['sms'], name: '食品经营许可证', renewalUrl: 'https://zwfw.example.gov.cn/renew?no={licenseNo}&src=sms' }),
    categoryBody('water', { channels: ['sms'], name: '取水<许可>证 & "水"', renewalUrl: 'https://zwfw.example.gov.cn/water/{licenseNo}', consultPhone: '0398-7868127' }),
    categoryBody('broken', { channels: ['sms'], name: '无效地址证', renewalUrl: 'https://bad host/renew' }),
  ]) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: body });
    expect(res.statusCode, res.body).toBe(201);
  }
  await load(LICENCES.map((l) => row(l.licenseNo)));
  for (const asOf of [day(-110), day(-101), day(-100), day(0)]) await scan(asOf);
  // Before anything is sent: F2 renewed (its delivery cancelled), G revoked (its only one).
  await load([row('JY-F2', { expiresOn: day(400) }), row('JY-G', { status: 'revoked' })]);
});

afterAll(async () => {
  await t?.close();
});

describe('GET /r/{token}', () => {
  it('sends a message of one licence straight to its renewal, the licence number URL-encoded, and records the opening', async () => {
    const token = await tokenOf(A_NO);
    expect(token).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const res = await open(`/r/${token}`);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://zwfw.example.gov.cn/renew?no=%E8%B1%AB%E9%A3%9F%202021%2F7%268&src=sms');
    expect(new URL(String(res.headers.location)).searchParams.get('no')).toBe(A_NO);
    expect(res.headers['cache-control']).toBe('no-store');
    // The renewal site is not told the token.
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(await openings(token)).toBe(1);
    expect((await open(`/r/${token}`)).statusCode).toBe(302);
    expect(await openings(token)).toBe(2);
  });

  it('records when and which message, nothing of the visitor', async () => {
    const { rows: columns } = await sql<{ columnName: string }>`
      select column_name from information_schema.columns where table_name = 'link_openings' order by ordinal_position`.execute(t.database.db);
    expect(columns.map((c) => c.columnName)).toEqual(['id', 'message_id', 'opened_at']);
    const token = await tokenOf('JY-B1');
    const before = Date.now();
    await t.app.inject({ method: 'GET', url: `/r/${token}`, remoteAddress: '203.0.113.9', headers: { 'user-agent': 'phone 203.0.113.9' } });
    const { rows } = await sql<{ messageId: number; openedAt: Date }>`
      select o.message_id, o.opened_at from link_openings o join outgoing_messages m on m.id = o.message_id where m.link_token = ${token}`.execute(t.database.db);
    expect(rows).toHaveLength(1);
    expect(Math.abs(rows[0]!.openedAt.getTime() - before)).toBeLessThan(60_000);
    const { rows: dump } = await sql<{ text: string }>`select string_agg(o::text, ' ') as text from link_openings o`.execute(t.database.db);
    expect(dump[0]!.text).not.toContain('203.0.113.9');
  });

  it('lists the licences of a message of several on a mobile page in Chinese, each with its own renewal, escaped', async () => {
    const token = await tokenOf('JY-B1');
    const res = await open(`/r/${token}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = res.body;
    expect(html).toMatch(/^<!doctype html>\n<html lang="zh-CN">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    // B2 expires first, so it comes first.
    const b2 = html.indexOf('QS&lt;b&gt;&quot;&amp;&#39;2');
    const b1 = html.indexOf('JY-B1');
    expect(b2).toBeGreaterThan(-1);
    expect(b1).toBeGreaterThan(b2);
    expect(html).toContain('<h2>取水&lt;许可&gt;证 &amp; &quot;水&quot;</h2>');
    expect(html).toContain('<h2>食品经营许可证</h2>');
    expect(html).toContain(`到期日期：${day(25)}`);
    expect(html).toContain(`到期日期：${day(30)}`);
    expect(html).toContain('href="https://zwfw.example.gov.cn/water/QS%3Cb%3E%22%26\'2"'.replace("'", '&#39;'));
    expect(html).toContain('href="https://zwfw.example.gov.cn/renew?no=JY-B1&amp;src=sms"');
    expect(html).toContain('<a href="tel:0398-7868127">0398-7868127</a>');
    // Nothing of the category's raw text reaches the markup unescaped.
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<许可>');
    expect(html).not.toMatch(/<script/i);
  });

  it('lets the page render under its Content-Security-Policy: its own style block by hash, nothing else', async () => {
    const res = await open(`/r/${await tokenOf('JY-B1')}`);
    const csp = String(res.headers['content-security-policy']);
    const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)![1]!;
    expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('script-src');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    // The 404 page has the same style block.
    expect(/<style>([\s\S]*?)<\/style>/.exec((await open('/r/AAAAAAAAAAAAAAAA')).body)![1]).toBe(style);
  });

  it('works until 90 days after the latest expiry date its message names; a lapsed link is a 404 page and is not recorded', async () => {
    const lapsed = await tokenOf('JY-D');
    expectNotFoundPage(await open(`/r/${lapsed}`), 'expired 91 days ago');
    expect(await openings(lapsed)).toBe(0);
    const lastDay = await tokenOf('JY-C');
    expect((await open(`/r/${lastDay}`)).statusCode).toBe(302);
    expect(await openings(lastDay)).toBe(1);
    // E1 expired 100 days ago, but the message also names E2, 80 days ago.
    const both = await open(`/r/${await tokenOf('JY-E1')}`);
    expect(both.statusCode).toBe(200);
    expect(both.body).toContain('JY-E1');
    expect(both.body).toContain('JY-E2');
  });

  it('leaves out a licence dropped from its message before sending, and knows no message that carries nothing', async () => {
    const f = await tokenOf('JY-F1');
    expect(await tokenOf('JY-F2')).toBe(f);
    const res = await open(`/r/${f}`);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://zwfw.example.gov.cn/renew?no=JY-F1&src=sms');
    const revoked = await tokenOf('JY-G');
    expectNotFoundPage(await open(`/r/${revoked}`), 'every delivery cancelled');
    expect(await openings(revoked)).toBe(0);
  });

  it('shows the page, with the consultation phone, for one licence whose category URL is no address', async () => {
    const res = await open(`/r/${await tokenOf('JY-H')}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('JY-H');
    expect(res.body).toContain('请致电咨询电话办理续期');
    expect(res.body).not.toContain('class="renew"');
  });

  it('answers an unknown or malformed token with the 404 page, never a 500, and records nothing', async () => {
    const before = await allOpenings();
    const token = await tokenOf(A_NO);
    const paths = [
      '/r/AAAAAAAAAAAAAAAA',
      `/r/${token.slice(0, 15)}`,
      `/r/${token}x`,
      `/r/${token.toLowerCase() === token ? token.toUpperCase() : token.toLowerCase()}`,
      `/r/${token}/more`,
      `/r/${encodeURIComponent(`${token.slice(0, 15)}'`)}`,
      '/r/',
      '/r/%ZZ',
      '/r/%00',
      '/r/..%2f..%2fetc',
      `/r/${'x'.repeat(5000)}`,
      `/r/${encodeURIComponent('续证续证续证续证续证续证续证续证')}`,
      `/r/${encodeURIComponent("' or 1=1 --")}`,
      `/r/${token}?utm=sms`.replace(token, 'B'.repeat(16)),
    ];
    for (const path of paths) expectNotFoundPage(await open(path), path);
    expect(await allOpenings()).toBe(before);
  });

  it('keeps the query string out of the way: a real token with one still opens', async () => {
    const token = await tokenOf(A_NO);
    expect((await open(`/r/${token}?from=wechat`)).statusCode).toBe(302);
  });

  it('does not count a HEAD (a link checker) as an opening', async () => {
    const token = await tokenOf('JY-C');
    const before = await openings(token);
    const res = await open(`/r/${token}`, 'HEAD');
    expect(res.statusCode).toBe(404);
    expect(await openings(token)).toBe(before);
  });

  it('counts openings of working links in lr_link_openings_total', async () => {
    const metric = async () => {
      await t.queues.counters.flush();
      const body = (await t.app.inject({ method: 'GET', url: '/metrics', headers: admin })).body;
      expect(body).toContain('# TYPE lr_link_openings_total counter');
      return Number(/^lr_link_openings_total (\d+)$/m.exec(body)![1]);
    };
    const before = await metric();
    await open(`/r/${await tokenOf(A_NO)}`);
    await open(`/r/${await tokenOf('JY-B1')}`);
    await open(`/r/${await tokenOf('JY-D')}`); // lapsed
    await open('/r/AAAAAAAAAAAAAAAA'); // unknown
    expect(await metric()).toBe(before + 2);
  });
});

describe('categories with renewal-link placeholders', () => {
  it('are accepted, and previewed with the service’s own link address at its full length', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/categories',
      headers: admin,
      payload: categoryBody('linked', { smsTemplate: '【卢氏县政务服务】{licenseName}将到期，办理：{renewalLink} 码{renewalToken}', pushBody: '{renewalLink}' }),
    });
    expect(res.statusCode, res.body).toBe(201);
    const { preview } = res.json<{ preview: { sms: { text: string }; push: { body: string } } }>();
    expect(preview.sms.text).toMatch(new RegExp(`^【卢氏县政务服务】食品经营许可证将到期，办理：${PUBLIC_BASE_URL}/r/[A-Za-z0-9_-]{16} 码[A-Za-z0-9_-]{16}$`));
    expect(preview.push.body).toMatch(new RegExp(`^${PUBLIC_BASE_URL}/r/[A-Za-z0-9_-]{16}$`));
    // An unknown name next to them is still refused.
    const bad = await t.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody('linked-bad', { smsTemplate: '{renewalLinks}' }) });
    expectError(bad, 422, 'unknown_placeholder');
  });
});

describe('the rate limit of renewal links (RATE_LIMIT_PER_MINUTE=5)', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startTestApp({ RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('lets one address open 60 links a minute whatever the API’s limit, on a count apart from its other requests', async () => {
    const from = { remoteAddress: '198.51.100.7' };
    for (let i = 1; i <= 60; i++) {
      const res = await limited.app.inject({ method: 'GET', url: '/r/AAAAAAAAAAAAAAAA', ...from });
      expect(res.statusCode, `opening ${i}`).toBe(404);
      expect(res.headers['x-ratelimit-limit']).toBe('60');
    }
    const over = await limited.app.inject({ method: 'GET', url: '/r/AAAAAAAAAAAAAAAA', ...from });
    expectError(over, 429, 'rate_limited');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // The address's other requests have their own count, at the API's limit of 5.
    for (let i = 1; i <= 5; i++) expect((await limited.app.inject({ method: 'GET', url: '/v1/categories', ...from })).statusCode).toBe(401);
    expectError(await limited.app.inject({ method: 'GET', url: '/v1/categories', ...from }), 429, 'rate_limited');
    // Another address opens its links.
    expect((await limited.app.inject({ method: 'GET', url: '/r/AAAAAAAAAAAAAAAA', remoteAddress: '198.51.100.8' })).statusCode).toBe(404);
  });
});
