import { createApiKey, insertCategory } from '@lr/db';
import { addDays, type LicenseInput } from '@lr/domain';
import { createLogger } from '@lr/log';
import type { Forecast, ForecastDay } from '@lr/reporting';
import { runScan } from '@lr/scan';
import { storeLicenses, testCategory, testLicense, validLicense, FOLLOW_UP_DAYS } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startTestApp, type TestApp } from './harness';

/**
 * The forecast against the real scan: forecast a period, then run the scan on every day of
 * it and compare, day by day, the reminders each scan created and the messages it created
 * per channel (outgoing_messages: one per recipient, scan and channel) with the forecast.
 *
 * The store: four categories (60/30/10 by SMS and push; 20/5 by SMS only; 90/30/1 by push
 * only; a disabled one), 240 licences expiring from 10 days before the period to 100 days
 * after it, sharing 12 phones and 8 app accounts (an enterprise holding several licences),
 * some with neither, a tenth revoked; two scans before the period (25 and 8 days before:
 * reminders made already, and a week's gap the first day's scan catches up on); then
 * licences revoked and added (one first seen 45 days out), and one renewed and corrected
 * back to its date, so that its reminder of the first day's window exists but is no longer
 * open.
 */
const FROM = '2031-06-01';
const DAYS = 101;
const TO = addDays(FROM, DAYS - 1);
const CATEGORIES = [
  testCategory({ code: 'food', leadDays: [60, 30, 10], channels: ['sms', 'push'] }),
  testCategory({ code: 'hygiene', leadDays: [20, 5], channels: ['sms'] }),
  testCategory({ code: 'transport', leadDays: [90, 30, 1], channels: ['push'] }),
  testCategory({ code: 'closed', leadDays: [60, 30, 10], channels: ['sms', 'push'], enabled: false }),
];
const REGIONS = ['411224', '411202', '410102'];

let t: TestApp;
let viewer: Record<string, string>;

/** The same numbers every run: a licence's attributes come from its index. */
function pick<T>(values: readonly T[], n: number, salt: number): T {
  return values[((n * 2_654_435_761 + salt * 40_503) >>> 7) % values.length]!;
}

const phone = (n: number) => `139000000${String(n).padStart(2, '0')}`;

function licence(n: number, expiresOn: string, overrides: Partial<LicenseInput> = {}) {
  return validLicense(
    testLicense({
      categoryCode: pick(CATEGORIES, n, 1).code,
      licenseNo: `FC${String(n).padStart(5, '0')}`,
      expiresOn,
      phone: pick([null, ...Array.from({ length: 12 }, (_, i) => phone(i))], n, 2),
      platformUserId: pick([null, null, 'u-1', 'u-2', 'u-3', 'u-4', 'u-5', 'u-6', 'u-7', 'u-8'], n, 3),
      regionCode: pick(REGIONS, n, 4),
      ...overrides,
    }),
  );
}

const INITIAL = Array.from({ length: 240 }, (_, n) => licence(n, addDays(FROM, -10 + ((n * 37) % (DAYS + 110)))));

async function forecast(query: string): Promise<Forecast> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/forecast?from=${FROM}&to=${TO}${query}`, headers: viewer });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Forecast>();
}

function scan(asOf: string) {
  return runScan({ db: t.database.db, queues: t.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf, trigger: 'command' });
}

/** What one real scan created for the licences of a filter: reminders, and distinct recipients per channel. */
async function created(scanId: number, where: { categoryCode?: string; regionPrefix?: string }): Promise<Omit<ForecastDay, 'date'>> {
  const category = where.categoryCode ?? null;
  const region = `${where.regionPrefix ?? ''}%`;
  const { rows } = await sql<Omit<ForecastDay, 'date'>>`
    select (select count(*)::int from reminders r join licenses l on l.id = r.license_id
             where r.scan_id = ${scanId} and (${category}::text is null or l.category_code = ${category}) and l.region_code like ${region}) as reminders,
           count(distinct m.recipient) filter (where m.channel = 'sms')::int as sms,
           count(distinct m.recipient) filter (where m.channel = 'push')::int as push
      from reminders r
      join licenses l on l.id = r.license_id
      join deliveries d on d.reminder_id = r.id
      join outgoing_messages m on m.id = d.message_id
     where r.scan_id = ${scanId} and (${category}::text is null or l.category_code = ${category}) and l.region_code like ${region}`.execute(t.database.db);
  return rows[0]!;
}

const forecasts: Record<string, Forecast> = {};
const FILTERS = {
  all: { query: '', where: {} },
  food: { query: '&categoryCode=food', where: { categoryCode: 'food' } },
  transport: { query: '&categoryCode=transport', where: { categoryCode: 'transport' } },
  closed: { query: '&categoryCode=closed', where: { categoryCode: 'closed' } },
  city: { query: '&regionCode=4112', where: { regionPrefix: '4112' } },
  county: { query: '&regionCode=411202&categoryCode=hygiene', where: { regionPrefix: '411202', categoryCode: 'hygiene' } },
} as const;
/** What the real scans created, per filter, in the forecast's shape. */
const scanned: Record<string, ForecastDay[]> = {};

beforeAll(async () => {
  t = await startTestApp();
  viewer = auth((await createApiKey(t.database.db, 'planning', 'viewer')).key);
  for (const category of CATEGORIES) await insertCategory(t.database.db, category);
  await storeLicenses(t.database.db, INITIAL);
  await scan(addDays(FROM, -25));
  await storeLicenses(t.database.db, [
    // reminded 8 days before the period (30 days left: the 30-day window of food), then
    // renewed and corrected back: that reminder is no longer open, and still made
    licence(1000, addDays(FROM, 22), { categoryCode: 'food', phone: phone(1) }),
  ]);
  await scan(addDays(FROM, -8));
  await storeLicenses(t.database.db, [licence(1000, addDays(FROM, 400), { categoryCode: 'food', phone: phone(1) })]);
  await storeLicenses(t.database.db, [licence(1000, addDays(FROM, 22), { categoryCode: 'food', phone: phone(1) })]);
  await storeLicenses(t.database.db, [
    ...INITIAL.filter((_, n) => n % 10 === 3).map((l) => ({ ...l, status: 'revoked' as const })),
    licence(2000, addDays(FROM, 45), { categoryCode: 'food', phone: phone(2), platformUserId: 'u-2' }),
    licence(2001, addDays(FROM, 45), { categoryCode: 'food', phone: null, platformUserId: null }),
    licence(2002, addDays(FROM, 3), { categoryCode: 'hygiene', phone: phone(3) }),
  ]);

  for (const [name, filter] of Object.entries(FILTERS)) forecasts[name] = await forecast(filter.query);
  for (const name of Object.keys(FILTERS)) scanned[name] = [];
  for (let day = FROM; day <= TO; day = addDays(day, 1)) {
    const summary = await scan(day);
    for (const [name, filter] of Object.entries(FILTERS)) {
      const counts = await created(summary.id, filter.where);
      if (name === 'all') {
        expect(counts.reminders).toBe(summary.remindersCreated);
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from outgoing_messages where scan_id = ${summary.id}`.execute(t.database.db);
        expect(counts.sms + counts.push).toBe(rows[0]!.n);
      }
      scanned[name]!.push({ date: day, ...counts });
    }
  }
}, 120_000);

afterAll(() => t.close());

describe('GET /v1/forecast agrees with the scans of every day of the period', () => {
  it.each(Object.keys(FILTERS))('%s: each day as the real scan made it', (name) => {
    const forecast = forecasts[name]!;
    expect(forecast.items).toHaveLength(DAYS);
    expect(forecast.items).toEqual(scanned[name]);
    const sum = (key: 'reminders' | 'sms' | 'push') => scanned[name]!.reduce((s, d) => s + d[key], 0);
    expect(forecast.totals).toEqual({ reminders: sum('reminders'), sms: sum('sms'), push: sum('push') });
  });

  it('the store gives each rule something to do', async () => {
    const all = scanned.all!;
    const first = all[0]!;
    const later = all.slice(1);
    // the first day catches up; later days make reminders and messages too
    expect(first.reminders).toBeGreaterThan(10);
    expect(later.filter((d) => d.reminders > 0).length).toBeGreaterThan(40);
    // messages are joined per recipient: fewer than the reminders that have the channel
    expect(all.some((d) => d.sms > 0 && d.sms < d.reminders)).toBe(true);
    expect(forecasts.closed!.totals).toEqual({ reminders: 0, sms: 0, push: 0 });
    expect(forecasts.transport!.totals.sms).toBe(0);
    expect(forecasts.transport!.totals.push).toBeGreaterThan(0);
    const { rows } = await sql<{ licenseNo: string; leadDays: number; asOf: string; outcome: string }>`
      select l.license_no as "licenseNo", r.lead_days as "leadDays", r.as_of as "asOf", r.outcome
        from reminders r join licenses l on l.id = r.license_id
       where l.license_no in ('FC01000', 'FC02000') and r.as_of <= ${FROM}::date
       order by l.license_no, r.as_of`.execute(t.database.db);
    expect(rows).toEqual([
      // the 30-day reminder, made before the period and closed by the renewal: none on the first day
      { licenseNo: 'FC01000', leadDays: 30, asOf: addDays(FROM, -8), outcome: 'renewed' },
      // first seen 45 days out: the 60-day reminder on the first day (expired since: the period passed its date)
      { licenseNo: 'FC02000', leadDays: 60, asOf: FROM, outcome: 'expired' },
    ]);
  });
});
