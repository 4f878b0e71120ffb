import { createApiKey, recordReceipt } from '@lr/db';
import { creditCodeCheckChar, residentIdCheckChar } from '@lr/domain';
import type { Stats } from '@lr/reporting';
import { finishMessage, type MessageEnd } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type TestApp } from './harness';

/**
 * GET /v1/stats against a story worked out by hand. Nine licences of one expiry date
 * (2031-03-31), and one of a later date, go through the 60-, 30- and 10-day scans and a scan
 * after the date; between scans their messages are sent, delivered, failed, and licences are
 * renewed, corrected and revoked. The figures each test expects are counted in its comments.
 *
 *   licence  holder          contact       60-day (01-30)      30-day (03-01)     10-day (03-21)    then
 *   L1       individual I1   sms+push      sms ✓d  push ✓s     -                  -                 renewed after the 60-day scan
 *   L2       individual I2   sms           sms ✗f              sms ✓d             -                 renewed after the 30-day scan
 *   L3       enterprise E1   push          push ✓s             push ✓s            push ✓s           renewed after the 10-day scan
 *   L4       individual I3   sms+push      sms ✗u  push ✗f     both ✗f            both ✗f           renewed after the 10-day scan
 *   L5       individual I4   sms           sms ✓d              sms queued         sms queued        expired (04-02), renewed after: its queued SMS cancelled
 *   L6       enterprise E1   sms           sms ✓s              corrected to 03-25: a new cycle, its 30 and 10 queued; both cycles expire
 *   L7       individual I5   none          undeliverable       undeliverable      undeliverable     expired
 *   L8       individual I6   sms           queued, then revoked: cancelled                          expired
 *   L9       individual I7   sms (hygiene) -                   -                  60-day (05-15) ✓d open
 */
let t: TestApp;
let viewerKey: string;

const EXPIRES = '2031-03-31';
const SCAN_60 = '2031-01-30';
const SCAN_30 = '2031-03-01';
const SCAN_10 = '2031-03-21';
const SCAN_AFTER = '2031-04-02';

const residentId = (n: number) => {
  const first17 = `41122419900101${String(n).padStart(3, '0')}`;
  return first17 + residentIdCheckChar(first17);
};
const ENTERPRISE_E1 = (() => {
  const first17 = '91411202MA0000001';
  return first17 + creditCodeCheckChar(first17);
})();

interface Licence {
  licenseNo: string;
  categoryCode?: string;
  holderType: 'individual' | 'enterprise';
  holderIdNo: string;
  holderName: string;
  phone: string | null;
  platformUserId: string | null;
  regionCode: string;
  expiresOn?: string;
  status?: 'active' | 'revoked';
}

const LICENCES: Licence[] = [
  { licenseNo: 'L1', holderType: 'individual', holderIdNo: residentId(1), holderName: '张一', phone: '13800000001', platformUserId: 'u-1', regionCode: '411224' },
  { licenseNo: 'L2', holderType: 'individual', holderIdNo: residentId(2), holderName: '张二', phone: '13800000002', platformUserId: null, regionCode: '411224' },
  { licenseNo: 'L3', holderType: 'enterprise', holderIdNo: ENTERPRISE_E1, holderName: '三门峡宏达有限公司', phone: null, platformUserId: 'u-3', regionCode: '411202' },
  { licenseNo: 'L4', holderType: 'individual', holderIdNo: residentId(3), holderName: '张四', phone: '13800000004', platformUserId: 'u-4', regionCode: '411224' },
  { licenseNo: 'L5', holderType: 'individual', holderIdNo: residentId(4), holderName: '张五', phone: '13800000005', platformUserId: null, regionCode: '411224' },
  { licenseNo: 'L6', holderType: 'enterprise', holderIdNo: ENTERPRISE_E1, holderName: '三门峡宏达有限公司', phone: '13800000006', platformUserId: null, regionCode: '411202' },
  { licenseNo: 'L7', holderType: 'individual', holderIdNo: residentId(5), holderName: '张七', phone: null, platformUserId: null, regionCode: '411224' },
  { licenseNo: 'L8', holderType: 'individual', holderIdNo: residentId(6), holderName: '张八', phone: '13800000008', platformUserId: null, regionCode: '411224' },
  { licenseNo: 'L9', categoryCode: 'hygiene', holderType: 'individual', holderIdNo: residentId(7), holderName: '张九', phone: '13800000009', platformUserId: null, regionCode: '410102', expiresOn: '2031-05-15' },
];

const row = (licence: Licence, changes: Partial<Licence> = {}) => ({
  categoryCode: 'food',
  validFrom: '2026-04-01',
  expiresOn: EXPIRES,
  status: 'active',
  ...licence,
  ...changes,
});

async function write(licenseNo: string, changes: Partial<Licence>) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: [row(LICENCES.find((l) => l.licenseNo === licenseNo)!, changes)] } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ created: number; updated: number; renewed: number; unchanged: number }>();
}

async function scan(asOf: string) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf } });
  expect(res.statusCode, res.body).toBe(200);
}

/** The message that carries a licence's reminder of a scan on a channel, ended as the story says. */
async function end(licenseNo: string, asOf: string, channel: 'sms' | 'push', how: MessageEnd): Promise<string> {
  const { rows } = await sql<{ id: number }>`
    select d.message_id as id from deliveries d
      join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where l.license_no = ${licenseNo} and r.as_of = ${asOf}::date and d.channel = ${channel}`.execute(t.database.db);
  expect(rows, `${licenseNo} ${asOf} ${channel}`).toHaveLength(1);
  return finishMessage(t.database.db, rows[0]!.id, how);
}

async function stats(query = '', key?: string) {
  const res = await t.app.inject({ method: 'GET', url: `/v1/stats${query}`, headers: key ? auth(key) : admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Stats>();
}

/** L3's three push messages, the only deliveries that reached L3's cycle, the 10-day one credited. */
const l3Pushes: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  viewerKey = (await createApiKey(t.database.db, 'county office', 'viewer')).key;
  for (const body of [categoryBody('food', { channels: ['sms', 'push'] }), categoryBody('hygiene', { channels: ['sms'] })]) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: body });
    expect(res.statusCode, res.body).toBe(201);
  }
  const res = await t.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: admin, payload: { licenses: LICENCES.map((l) => row(l)) } });
  expect(res.json()).toMatchObject({ created: 9 });

  await scan(SCAN_60);
  await end('L1', SCAN_60, 'sms', 'delivered');
  await end('L1', SCAN_60, 'push', 'sent');
  await end('L2', SCAN_60, 'sms', 'failed');
  l3Pushes.push(await end('L3', SCAN_60, 'push', 'sent'));
  await end('L4', SCAN_60, 'sms', 'undelivered');
  await end('L4', SCAN_60, 'push', 'failed');
  await end('L5', SCAN_60, 'sms', 'delivered');
  await end('L6', SCAN_60, 'sms', 'sent');
  expect(await write('L1', { expiresOn: '2032-03-31' })).toMatchObject({ renewed: 1 });
  expect(await write('L6', { expiresOn: '2031-03-25' })).toMatchObject({ updated: 1 });
  expect(await write('L8', { status: 'revoked' })).toMatchObject({ updated: 1 });

  await scan(SCAN_30);
  await end('L2', SCAN_30, 'sms', 'delivered');
  l3Pushes.push(await end('L3', SCAN_30, 'push', 'sent'));
  await end('L4', SCAN_30, 'sms', 'failed');
  await end('L4', SCAN_30, 'push', 'failed');
  expect(await write('L2', { expiresOn: '2032-03-31' })).toMatchObject({ renewed: 1 });

  await scan(SCAN_10);
  l3Pushes.push(await end('L3', SCAN_10, 'push', 'sent'));
  await end('L4', SCAN_10, 'sms', 'failed');
  await end('L4', SCAN_10, 'push', 'failed');
  await end('L9', SCAN_10, 'sms', 'delivered');
  expect(await write('L3', { expiresOn: '2032-03-31' })).toMatchObject({ renewed: 1 });
  expect(await write('L4', { expiresOn: '2032-03-31' })).toMatchObject({ renewed: 1 });

  await scan(SCAN_AFTER);
  // Renewed after a scan found it lapsed: the cycle stays expired.
  expect(await write('L5', { expiresOn: '2032-03-31' })).toMatchObject({ renewed: 1 });
});

afterAll(async () => {
  await t?.close();
});

const ZERO_PUSH = { pending: 0, sent: 0, delivered: 0, undelivered: 0, failed: 0, cancelled: 0 };

describe('GET /v1/stats', () => {
  it('gives every figure of the whole story, counted by hand', async () => {
    expect(await stats()).toEqual({
      from: null,
      to: null,
      // 8 + 6 + 6 reminders. Reached: L1/60, L3/60, L5/60, L6/60, L2/30, L3/30, L3/10, L9/60.
      // Failed: L2/60, L4/60, L4/30, L4/10. Undeliverable: L7 ×3. Cancelled: L8/60 (revoked), and
      // L5/30 and L5/10, whose queued SMS its late renewal cancelled. In progress: the corrected L6's 30 and 10.
      reminders: { created: 20, reached: 8, undeliverable: 3, failed: 4, inProgress: 2, cancelled: 3 },
      deliveries: {
        sms: { pending: 2, sent: 1, delivered: 4, undelivered: 1, failed: 3, cancelled: 3 },
        push: { ...ZERO_PUSH, sent: 4, failed: 3 },
      },
      // E1 (L3 and L6 both), and I1, I2, I4, I7.
      holdersReached: { enterprise: 1, individual: 4 },
      // Reached: L1, L2, L3 renewed; L5 (renewed too late) and L6's first date expired; L9 open.
      cycles: { reached: 6, renewed: 3, expired: 2, open: 1, renewalRate: 0.6 },
      // Not reached: L4 renewed; L6's corrected date, L7 and L8 expired.
      unreached: { cycles: 4, renewed: 1, expired: 3, open: 0, renewalRate: 0.25 },
      renewalsCredited: { byLeadDays: { 60: 1, 30: 1, 10: 1 }, byChannel: { sms: 1, push: 1, both: 1 } },
      links: { opened: 0, renewedAfterOpening: 0 },
    });
  });

  it('counts the cycles of a period whole: their other reminders, outcome and credit, even outside it', async () => {
    const s = await stats(`?from=${SCAN_30}&to=${SCAN_30}`);
    expect(s).toMatchObject({
      from: SCAN_30,
      to: SCAN_30,
      // L2 and L3 reached; L4 failed; L5 cancelled by its renewal; L6's corrected date in progress; L7 undeliverable.
      reminders: { created: 6, reached: 2, undeliverable: 1, failed: 1, inProgress: 1, cancelled: 1 },
      deliveries: { sms: { pending: 1, sent: 0, delivered: 1, undelivered: 0, failed: 1, cancelled: 1 }, push: { ...ZERO_PUSH, sent: 1, failed: 1 } },
      holdersReached: { enterprise: 1, individual: 1 },
      // L5 was reached by its 60-day SMS, before the period.
      cycles: { reached: 3, renewed: 2, expired: 1, open: 0, renewalRate: 2 / 3 },
      unreached: { cycles: 3, renewed: 1, expired: 2, open: 0, renewalRate: 1 / 3 },
      // L3's credit is its 10-day push, after the period.
      renewalsCredited: { byLeadDays: { 60: 0, 30: 1, 10: 1 }, byChannel: { sms: 1, push: 1, both: 0 } },
    });
    expect(s.groups).toBeUndefined();
  });

  it('a period with no reminders has zeros and no renewal rate', async () => {
    expect(await stats('?from=2030-01-01&to=2030-12-31')).toMatchObject({
      reminders: { created: 0, reached: 0, undeliverable: 0, failed: 0, inProgress: 0, cancelled: 0 },
      cycles: { reached: 0, renewed: 0, expired: 0, open: 0, renewalRate: null },
      unreached: { cycles: 0, renewalRate: null },
      renewalsCredited: { byLeadDays: { 60: 0, 30: 0, 10: 0 }, byChannel: { sms: 0, push: 0, both: 0 } },
    });
  });

  it('filters by region: a county, a city, a province', async () => {
    // 411202: L3 and L6 (E1). L3 reached thrice and renewed; L6 reached and expired; its corrected date not reached.
    expect(await stats('?regionCode=411202')).toMatchObject({
      reminders: { created: 6, reached: 4, inProgress: 2 },
      holdersReached: { enterprise: 1, individual: 0 },
      cycles: { reached: 2, renewed: 1, expired: 1, renewalRate: 0.5 },
      unreached: { cycles: 1, expired: 1, renewalRate: 0 },
    });
    // The city 4112 (Sanmenxia) holds all but L9 of Zhengzhou (4101).
    expect((await stats('?regionCode=4112')).reminders.created).toBe(19);
    expect((await stats('?regionCode=4101')).reminders).toMatchObject({ created: 1, reached: 1 });
    expect((await stats('?regionCode=41')).reminders.created).toBe(20);
    expect((await stats('?regionCode=42')).reminders.created).toBe(0);
  });

  it('filters by category', async () => {
    expect(await stats('?categoryCode=hygiene')).toMatchObject({
      reminders: { created: 1, reached: 1 },
      deliveries: { sms: { delivered: 1 }, push: ZERO_PUSH },
      cycles: { reached: 1, open: 1, renewalRate: null },
    });
  });

  it('groups by month, category and region, each group with the same figures', async () => {
    const byMonth = await stats('?groupBy=month');
    expect(byMonth.groups!.map((g) => g.key)).toEqual(['2031-01', '2031-03']);
    const [january, march] = byMonth.groups!;
    // January: the eight 60-day reminders; their cycles are L1–L8 of 03-31 (L6's first date).
    expect(january!.reminders).toMatchObject({ created: 8, reached: 4, failed: 2, undeliverable: 1, cancelled: 1, inProgress: 0 });
    expect(january!.cycles).toMatchObject({ reached: 5, renewed: 3, expired: 2, open: 0 });
    expect(january!.unreached).toMatchObject({ cycles: 3, renewed: 1, expired: 2 });
    expect(march!.reminders).toMatchObject({ created: 12, reached: 4 });
    // The period's own figures stay those of the whole story.
    expect(byMonth.reminders.created).toBe(20);
    expect(byMonth.cycles.reached).toBe(6);

    const byCategory = await stats('?groupBy=category');
    expect(byCategory.groups!.map((g) => [g.key, g.reminders.created])).toEqual([
      ['food', 19],
      ['hygiene', 1],
    ]);
    const byRegion = await stats('?groupBy=region&regionCode=4112');
    expect(byRegion.groups!.map((g) => [g.key, g.reminders.created])).toEqual([
      ['411202', 6],
      ['411224', 13],
    ]);
    expect(byRegion.groups![0]).toMatchObject({ key: '411202', cycles: { reached: 2, renewed: 1 }, links: { opened: 0 } });
  });

  it('keeps a renewed cycle reached and credited where it was when later receipts say its reminders did not reach the holder', async () => {
    const before = await stats();
    // All three of L3's pushes turn out undelivered, the credited 10-day one among them.
    for (const id of l3Pushes) await recordReceipt(t.database.db, id, 'undelivered', { code: 'gone', message: 'device gone' });
    const after = await stats();
    // The reminders stand where the receipts put them: three fewer reached, and now failed.
    expect(after.reminders).toEqual({ ...before.reminders, reached: 5, failed: 7 });
    expect(after.deliveries.push).toEqual({ ...ZERO_PUSH, sent: 1, undelivered: 3, failed: 3 });
    // E1 is still reached by L6's SMS.
    expect(after.holdersReached).toEqual(before.holdersReached);
    // But the renewal was recorded when L3's cycle had been reached: it stays reached, renewed, credited.
    expect(after.cycles).toEqual(before.cycles);
    expect(after.unreached).toEqual(before.unreached);
    expect(after.renewalsCredited).toEqual(before.renewalsCredited);
  });

  it('is open to viewers and refuses bad filters with 400 invalid_request', async () => {
    expect((await stats('', viewerKey)).reminders.created).toBe(20);
    expect((await t.app.inject({ method: 'GET', url: '/v1/stats' })).statusCode).toBe(401);
    for (const query of [
      '?from=2031-02-01&to=2031-01-01',
      '?from=2031-02-30',
      '?to=yesterday',
      '?groupBy=week',
      '?regionCode=123',
      '?regionCode=41x',
      '?categoryCode=no-such-category',
      '?colour=blue',
    ]) {
      expectError(await t.app.inject({ method: 'GET', url: `/v1/stats${query}`, headers: admin }), 400, 'invalid_request');
    }
  });

  it('names in byLeadDays the lead days of the categories reported on', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody('fire', { leadDays: [90, 15] }) });
    expect(res.statusCode, res.body).toBe(201);
    expect((await stats()).renewalsCredited.byLeadDays).toEqual({ 90: 0, 60: 1, 30: 1, 15: 0, 10: 1 });
    expect((await stats('?categoryCode=fire')).renewalsCredited.byLeadDays).toEqual({ 90: 0, 15: 0 });
    expect((await stats('?categoryCode=food')).renewalsCredited.byLeadDays).toEqual({ 60: 1, 30: 1, 10: 1 });
    const food = (await stats('?groupBy=category')).groups!.find((g) => g.key === 'food')!;
    expect(food.renewalsCredited.byLeadDays).toEqual({ 60: 1, 30: 1, 10: 1 });
  });
});
