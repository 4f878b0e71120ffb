// POST /v1/scans: a date after today only with ALLOW_FUTURE_SCANS=on, and dry runs that write nothing.
import { createApiKey, insertCategory } from '@lr/db';
import { addDays, localDate, type License, type LicenseInput } from '@lr/domain';
import { storeLicenses, TEST_ENTERPRISE, testCategory, testLicense, validLicense } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, expectError, startTestApp, type TestApp } from './harness';

const TIMEZONE = 'Asia/Shanghai';

let guarded: TestApp | undefined;
let open: TestApp | undefined;

function scan(t: TestApp, payload: Record<string, unknown>, headers = admin) {
  return t.app.inject({ method: 'POST', url: '/v1/scans', headers, payload });
}

function licence(licenseNo: string, expiresOn: string, extra: Partial<LicenseInput> = {}): License {
  return validLicense(testLicense({ categoryCode: 'food', licenseNo, ...TEST_ENTERPRISE, expiresOn, ...extra }));
}

/** Every row of every table a scan writes, and the queues and counters: what "writes nothing" is checked against. */
async function everything(t: TestApp) {
  await t.queues.counters.flush();
  const tables = ['scans', 'reminders', 'deliveries', 'delivery_events', 'outgoing_messages', 'follow_ups', 'audit_log'];
  const rows: Record<string, unknown[]> = {};
  for (const table of tables) rows[table] = (await sql.raw(`select to_jsonb(x) as row from ${table} x order by id`).execute(t.database.db)).rows;
  return {
    rows,
    jobs: { sms: await t.queues.sms.getJobCounts(), push: await t.queues.push.getJobCounts() },
    counters: Object.fromEntries(await t.queues.counters.read()),
  };
}

beforeAll(async () => {
  [guarded, open] = await Promise.all([startTestApp({ ALLOW_FUTURE_SCANS: 'off' }), startTestApp({ ALLOW_FUTURE_SCANS: 'on' })]);
  for (const t of [guarded, open]) {
    await insertCategory(t.database.db, testCategory({ code: 'food', leadDays: [60, 30, 10], channels: ['sms', 'push'] }));
  }
});

afterAll(async () => {
  await guarded?.close();
  await open?.close();
});

describe('a scan for a date after today', () => {
  it('is refused with 422 as_of_in_future while ALLOW_FUTURE_SCANS is off, and nothing is written; today still scans', async () => {
    const t = guarded!;
    const today = localDate(TIMEZONE);
    const tomorrow = addDays(today, 1);
    await storeLicenses(t.database.db, [licence('G-1', addDays(tomorrow, 20))]);
    const before = await everything(t);

    const error = expectError(await scan(t, { asOf: tomorrow }), 422, 'as_of_in_future');
    expect(error.message).toContain('ALLOW_FUTURE_SCANS');
    expect(error.details).toEqual([{ field: 'asOf', message: expect.stringContaining(today) }]);
    expect(await everything(t)).toEqual(before);

    const res = await scan(t, { asOf: today });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ asOf: today, status: 'succeeded', remindersCreated: 1 });
  });

  it('runs with ALLOW_FUTURE_SCANS=on', async () => {
    const t = open!;
    const tomorrow = addDays(localDate(TIMEZONE), 1);
    await storeLicenses(t.database.db, [licence('O-1', addDays(tomorrow, 20))]);
    const res = await scan(t, { asOf: tomorrow });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ asOf: tomorrow, trigger: 'api', status: 'succeeded', remindersCreated: 1 });
  });
});

describe('a dry run', () => {
  it('answers what the scan then creates, by lead and by channel, and writes nothing (no reminder, message, scan, job, counter or audit entry)', async () => {
    const t = guarded!;
    const asOf = localDate(TIMEZONE);
    await storeLicenses(t.database.db, [
      licence('D-60', addDays(asOf, 45), { phone: '+8613800138011', platformUserId: 'app-11' }),
      licence('D-30a', addDays(asOf, 25), { phone: '+8613800138011' }),
      licence('D-30b', addDays(asOf, 12), { phone: '+8613800138012' }),
      licence('D-10', addDays(asOf, 3), { phone: null, platformUserId: null }),
    ]);
    const before = await everything(t);

    const dry = await scan(t, { asOf, dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(await everything(t)).toEqual(before);

    const real = await scan(t, { asOf });
    expect(real.statusCode, real.body).toBe(200);
    const summary = real.json<{ id: number; remindersCreated: number; skipped: number; messagesQueued: number; undeliverable: number }>();
    expect(summary).toMatchObject({ remindersCreated: 4, skipped: 1, messagesQueued: 3, undeliverable: 1 });
    expect(dry.json()).toEqual({
      dryRun: true,
      asOf,
      remindersCreated: summary.remindersCreated,
      skipped: summary.skipped,
      messagesQueued: summary.messagesQueued,
      undeliverable: summary.undeliverable,
      remindersByLeadDays: { '60': 1, '30': 2, '10': 1 },
      messagesByChannel: { sms: 2, push: 1 },
    });
    const jobs = { sms: await t.queues.sms.getWaitingCount(), push: await t.queues.push.getWaitingCount() };
    expect(jobs).toEqual({ sms: before.jobs.sms.waiting! + 2, push: before.jobs.push.waiting! + 1 });
  });

  it('of a date after today is answered even while ALLOW_FUTURE_SCANS is off: it sends nothing', async () => {
    const t = guarded!;
    const before = await everything(t);
    const res = await scan(t, { asOf: '2099-12-31', dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ dryRun: true, asOf: '2099-12-31', remindersCreated: 0, messagesQueued: 0 });
    expect(await everything(t)).toEqual(before);
  });

  it('needs the operator role, a boolean, and a real date', async () => {
    const t = guarded!;
    const viewer = auth((await createApiKey(t.database.db, 'county office', 'viewer')).key);
    const operator = auth((await createApiKey(t.database.db, 'service centre', 'operator')).key);
    expectError(await scan(t, { dryRun: true }, viewer), 403, 'forbidden');
    expect((await scan(t, { dryRun: true }, operator)).json()).toMatchObject({ dryRun: true, asOf: localDate(TIMEZONE) });
    expectError(await scan(t, { dryRun: 'maybe' }), 400);
    expectError(await scan(t, { asOf: '2026-02-30', dryRun: true }), 422, 'invalid_as_of');
  });

  it('is documented in the OpenAPI document: the body’s dryRun and both answers', async () => {
    const doc = (await guarded!.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const post = doc.paths['/v1/scans'].post;
    expect(post.requestBody.content['application/json'].schema.properties).toHaveProperty('dryRun');
    expect(JSON.stringify(post.responses['200'])).toContain('remindersByLeadDays');
    expect(JSON.stringify(post.responses['200'])).toContain('startedAt');
  });
});
