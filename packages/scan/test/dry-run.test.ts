// A dry run (POST /v1/scans with dryRun) answers what the scan would create and writes nothing.
import { insertCategory, SCAN_LOCK, type Database } from '@lr/db';
import { addDays, type License, type LicenseInput } from '@lr/domain';
import { createLogger } from '@lr/log';
import {
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  TEST_ENTERPRISE,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dryRunScan, runScan, ScanInProgressError, type ScanDeps } from '../src/scan';

const FIRST = '2026-03-02';
const D = '2026-03-12';

let database: TestDatabase;
let redis: TestQueues;

const db = (): Database => database.db;
const deps = (): ScanDeps => ({
  db: db(),
  queues: redis.queues,
  log: createLogger('test', 'silent'),
  followUpDays: FOLLOW_UP_DAYS,
});

function licence(categoryCode: string, licenseNo: string, expiresOn: string, extra: Partial<LicenseInput> = {}): License {
  return validLicense(testLicense({ categoryCode, licenseNo, ...TEST_ENTERPRISE, expiresOn, ...extra }));
}

const phone = (n: number) => `+86138001380${String(n).padStart(2, '0')}`;

/** Every row of every table a scan writes, and the queues and counters: what "writes nothing" is checked against. */
async function everything() {
  await redis.queues.counters.flush();
  const tables = ['scans', 'reminders', 'deliveries', 'delivery_events', 'outgoing_messages', 'follow_ups', 'audit_log'] as const;
  const rows = Object.fromEntries(
    await Promise.all(tables.map(async (t) => [t, (await sql.raw(`select to_jsonb(x) as row from ${t} x order by id`).execute(db())).rows] as const)),
  );
  const jobs = { sms: await redis.queues.sms.getJobCounts(), push: await redis.queues.push.getJobCounts() };
  return { rows, jobs, counters: Object.fromEntries(await redis.queues.counters.read()) };
}

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(db(), testCategory({ code: 'food', leadDays: [60, 30, 10], channels: ['sms', 'push'] }));
  await insertCategory(db(), testCategory({ code: 'taxi', leadDays: [30, 7], channels: ['sms'] }));
  await storeLicenses(db(), [
    // reminded by the first scan: open until it passes its date unrenewed, which the dry run's date is
    licence('food', 'PAST', addDays(FIRST, 5), { phone: phone(1) }),
    // reminded by the first scan in its 30-day window, still in it at D: skipped
    licence('food', 'SKIP', addDays(FIRST, 25), { phone: phone(2) }),
  ]);
  await runScan(deps(), { asOf: FIRST, trigger: 'command' });
  // Stored after the first scan, so that each is new to the scan of D.
  await storeLicenses(db(), [
    licence('food', 'F60', addDays(D, 50), { phone: phone(3), platformUserId: 'app-3' }),
    licence('food', 'F30', addDays(D, 20), { phone: phone(3) }),
    licence('food', 'F10', addDays(D, 4), { phone: null, platformUserId: 'app-4' }),
    licence('food', 'NONE', addDays(D, 9), { phone: null }),
    licence('taxi', 'T30', addDays(D, 29), { phone: phone(3) }),
    licence('taxi', 'T7', addDays(D, 6), { phone: phone(5) }),
    // a taxi licence's only channel is SMS: undeliverable
    licence('taxi', 'TAPP', addDays(D, 6), { phone: null, platformUserId: 'app-6' }),
  ]);
});

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

describe('dryRunScan', () => {
  it('answers exactly what the scan then creates, by lead and by channel, and writes nothing', async () => {
    const before = await everything();
    expect(before.rows.reminders).toHaveLength(2);

    const dryRun = await dryRunScan(deps(), D);

    expect(await everything()).toEqual(before);

    const summary = await runScan(deps(), { asOf: D, trigger: 'command' });
    const { rows: byLead } = await sql<{ lead: number; n: number }>`
      select lead_days as lead, count(*)::int as n from reminders where scan_id = ${summary.id} group by lead_days`.execute(db());
    const { rows: byChannel } = await sql<{ channel: string; n: number }>`
      select channel, count(*)::int as n from outgoing_messages where scan_id = ${summary.id} group by channel`.execute(db());

    expect(summary).toMatchObject({ remindersCreated: 7, skipped: 1, messagesQueued: 4, undeliverable: 2 });
    expect(dryRun).toEqual({
      dryRun: true,
      asOf: D,
      remindersCreated: summary.remindersCreated,
      skipped: summary.skipped,
      messagesQueued: summary.messagesQueued,
      undeliverable: summary.undeliverable,
      remindersByLeadDays: { '60': 1, '30': 2, '10': 2, '7': 2 },
      messagesByChannel: { sms: 2, push: 2 },
    });
    expect(Object.fromEntries(byLead.map((r) => [String(r.lead), r.n]))).toEqual(dryRun.remindersByLeadDays);
    expect(Object.fromEntries(byChannel.map((r) => [r.channel, r.n]))).toEqual(dryRun.messagesByChannel);
  });

  it('counts every lead of the enabled categories and both channels, zeros included, when nothing is due', async () => {
    const dryRun = await dryRunScan(deps(), D);
    expect(dryRun).toMatchObject({ remindersCreated: 0, skipped: 8, messagesQueued: 0, undeliverable: 0 });
    expect(dryRun.remindersByLeadDays).toEqual({ '60': 0, '30': 0, '10': 0, '7': 0 });
    expect(dryRun.messagesByChannel).toEqual({ sms: 0, push: 0 });
  });

  // That ALLOW_FUTURE_SCANS=off does not refuse it is scanFor's part (scan-for.test.ts).
  it('a date after today is answered: it sends nothing', async () => {
    const before = await everything();
    const dryRun = await dryRunScan(deps(), '2099-01-01');
    expect(dryRun).toMatchObject({ dryRun: true, asOf: '2099-01-01', remindersCreated: 0 });
    expect(await everything()).toEqual(before);
  });

  it('is refused with ScanInProgressError while a scan holds the lock', async () => {
    const other = await database.pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
      await expect(dryRunScan(deps(), D)).rejects.toBeInstanceOf(ScanInProgressError);
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
      other.release();
    }
  });
});
