import type { Stats } from '@lr/reporting';
import { finishMessage, testLicense, type MessageEnd } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, categoryBody, startTestApp, type TestApp } from './harness';

/**
 * The `links` figures of GET /v1/stats against a story worked out by hand: reached cycles whose
 * holder opened a renewal link of the cycle (GET /r/{token} of a message carrying a delivery
 * of one of its reminders), and of those the renewed.
 *
 *   licence  category  contact        60-day (01-30)                30-day (03-01)              then
 *   K1       food      sms+push       sms ✓d push ✓s, SMS link opened  -                        renewed after the 60-day scan
 *   K2       food      sms            sms ✓d, link opened           sms queued                  expired (04-02)
 *   K3       food      sms            sms ✓d, not opened            -                           renewed after the 60-day scan
 *   K4       food      sms            sms ✗f, its link opened all the same (not reached)        renewed after the 60-day scan
 *   K5, K6   food      sms, one phone one SMS for both ✓d, link opened  K6: sms queued           K5 renewed after the 60-day scan; K6 (03-20) expired
 *   K7       hygiene   push           push ✓s, not opened          push ✓s, link opened        renewed after the 30-day scan
 *
 * Reached cycles: K1, K2, K3, K5, K6, K7. Opened of those: K1, K2, K5, K6, K7 (5; K4 opened
 * but was not reached). Renewed of those: K1, K5, K7 (3).
 */
let t: TestApp;

const EXPIRES = '2031-03-31';
const SCAN_60 = '2031-01-30';
const SCAN_30 = '2031-03-01';
const SCAN_AFTER = '2031-04-02';

const LICENCES = [
  { licenseNo: 'K1', categoryCode: 'food', phone: '13700000001', platformUserId: 'u-1' },
  { licenseNo: 'K2', categoryCode: 'food', phone: '13700000002' },
  { licenseNo: 'K3', categoryCode: 'food', phone: '13700000003' },
  { licenseNo: 'K4', categoryCode: 'food', phone: '13700000004' },
  { licenseNo: 'K5', categoryCode: 'food', phone: '13700000005' },
  { licenseNo: 'K6', categoryCode: 'food', phone: '13700000005', expiresOn: '2031-03-20' },
  { licenseNo: 'K7', categoryCode: 'hygiene', phone: null, platformUserId: 'u-7' },
];
const row = (licenseNo: string, changes: Record<string, unknown> = {}) =>
  testLicense({ expiresOn: EXPIRES, platformUserId: null, ...LICENCES.find((l) => l.licenseNo === licenseNo)!, ...changes });

async function post(url: string, payload: Record<string, unknown>) {
  const res = await t.app.inject({ method: 'POST', url, headers: admin, payload });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

/** The message carrying a licence's reminder of a scan on a channel. */
async function messageOf(licenseNo: string, asOf: string, channel: 'sms' | 'push'): Promise<{ id: number; linkToken: string }> {
  const { rows } = await sql<{ id: number; linkToken: string }>`
    select m.id, m.link_token from outgoing_messages m join deliveries d on d.message_id = m.id
      join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where l.license_no = ${licenseNo} and r.as_of = ${asOf}::date and d.channel = ${channel}`.execute(t.database.db);
  expect(rows, `${licenseNo} ${asOf} ${channel}`).toHaveLength(1);
  return rows[0]!;
}

async function end(licenseNo: string, asOf: string, channel: 'sms' | 'push', how: MessageEnd) {
  await finishMessage(t.database.db, (await messageOf(licenseNo, asOf, channel)).id, how);
}

/** The holder opens the link of that message, as a phone does. */
async function openLinkOf(licenseNo: string, asOf: string, channel: 'sms' | 'push') {
  const res = await t.app.inject({ method: 'GET', url: `/r/${(await messageOf(licenseNo, asOf, channel)).linkToken}` });
  expect(res.statusCode, `${licenseNo}: ${res.body.slice(0, 200)}`).toBeLessThan(400);
}

async function stats(query = '') {
  const res = await t.app.inject({ method: 'GET', url: `/v1/stats${query}`, headers: admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Stats>();
}

beforeAll(async () => {
  t = await startTestApp();
  await post('/v1/categories', categoryBody('food', { channels: ['sms', 'push'] }));
  await post('/v1/categories', categoryBody('hygiene', { channels: ['push'] }));
  await post('/v1/licenses/batch', { licenses: LICENCES.map((l) => row(l.licenseNo)) });

  await post('/v1/scans', { asOf: SCAN_60 });
  await end('K1', SCAN_60, 'sms', 'delivered');
  await end('K1', SCAN_60, 'push', 'sent');
  await end('K2', SCAN_60, 'sms', 'delivered');
  await end('K3', SCAN_60, 'sms', 'delivered');
  await end('K4', SCAN_60, 'sms', 'failed');
  await end('K5', SCAN_60, 'sms', 'delivered');
  expect((await messageOf('K6', SCAN_60, 'sms')).id).toBe((await messageOf('K5', SCAN_60, 'sms')).id);
  await end('K7', SCAN_60, 'push', 'sent');
  await openLinkOf('K1', SCAN_60, 'sms');
  await openLinkOf('K2', SCAN_60, 'sms');
  await openLinkOf('K2', SCAN_60, 'sms'); // twice: still one cycle
  await openLinkOf('K4', SCAN_60, 'sms');
  await openLinkOf('K5', SCAN_60, 'sms');
  await post('/v1/licenses/batch', { licenses: ['K1', 'K3', 'K4', 'K5'].map((no) => row(no, { expiresOn: '2032-03-31' })) });

  await post('/v1/scans', { asOf: SCAN_30 });
  await end('K7', SCAN_30, 'push', 'sent');
  await openLinkOf('K7', SCAN_30, 'push');
  await post('/v1/licenses/batch', { licenses: [row('K7', { expiresOn: '2032-03-31' })] });

  await post('/v1/scans', { asOf: SCAN_AFTER });
});

afterAll(async () => {
  await t?.close();
});

describe('GET /v1/stats: links', () => {
  it('counts reached cycles whose holder opened a link of the cycle, and of those the renewed', async () => {
    const s = await stats();
    // The rest of the story, as a check that it went as the table says.
    expect(s.cycles).toEqual({ reached: 6, renewed: 4, expired: 2, open: 0, renewalRate: 4 / 6 });
    expect(s.unreached).toMatchObject({ cycles: 1, renewed: 1 });
    expect(s.links).toEqual({ opened: 5, renewedAfterOpening: 3 });
  });

  it('counts a cycle opened through a reminder outside the period: cycles are counted whole', async () => {
    // The 60-day scan: every cycle; K7's opening was of its 30-day push.
    expect((await stats(`?from=${SCAN_60}&to=${SCAN_60}`)).links).toEqual({ opened: 5, renewedAfterOpening: 3 });
    // The 30-day scan: K2, K6 and K7. K6 was opened through the 60-day SMS it shared with K5.
    expect((await stats(`?from=${SCAN_30}&to=${SCAN_30}`)).links).toEqual({ opened: 3, renewedAfterOpening: 1 });
  });

  it('gives each group its own link figures', async () => {
    const byCategory = await stats('?groupBy=category');
    expect(byCategory.groups!.map((g) => [g.key, g.links])).toEqual([
      ['food', { opened: 4, renewedAfterOpening: 2 }],
      ['hygiene', { opened: 1, renewedAfterOpening: 1 }],
    ]);
    const byMonth = await stats('?groupBy=month');
    expect(byMonth.groups!.map((g) => [g.key, g.links])).toEqual([
      ['2031-01', { opened: 5, renewedAfterOpening: 3 }],
      ['2031-03', { opened: 3, renewedAfterOpening: 1 }],
    ]);
    expect(byMonth.links).toEqual({ opened: 5, renewedAfterOpening: 3 });
    expect((await stats('?categoryCode=hygiene')).links).toEqual({ opened: 1, renewedAfterOpening: 1 });
  });

  it('does not count the opening of a message for a cycle whose delivery was dropped from it before sending', async () => {
    // K9 (one phone with K8) is reminded alone at 60 days and reached; at 30 days its reminder
    // shares an SMS with K8's first, but K9 is revoked before it leaves: only K8 is carried.
    const k8 = row('K8', { licenseNo: 'K8', categoryCode: 'food', phone: '13700000008', expiresOn: '2031-09-25' });
    const k9 = row('K9', { licenseNo: 'K9', categoryCode: 'food', phone: '13700000008', expiresOn: '2031-08-30' });
    await post('/v1/licenses/batch', { licenses: [k8, k9] });
    await post('/v1/scans', { asOf: '2031-07-01' });
    await end('K9', '2031-07-01', 'sms', 'delivered');
    await post('/v1/scans', { asOf: '2031-08-01' });
    const shared = await messageOf('K8', '2031-08-01', 'sms');
    expect((await messageOf('K9', '2031-08-01', 'sms')).id).toBe(shared.id);
    await post('/v1/licenses/batch', { licenses: [{ ...k9, status: 'revoked' }] });
    await finishMessage(t.database.db, shared.id, 'delivered');
    await openLinkOf('K8', '2031-08-01', 'sms');
    const s = await stats('?from=2031-07-01&to=2031-08-01');
    expect(s.cycles).toMatchObject({ reached: 2, open: 2 });
    expect(s.links).toEqual({ opened: 1, renewedAfterOpening: 0 });
  });
});
