// scanFor: the way in of the route, the cron and `npm run scan`: the date's default, its check,
// the refusal of a date after today, and the scan lock, each answered rather than thrown.
import { insertCategory, SCAN_LOCK, type Database } from '@lr/db';
import { addDays, localDate, type License } from '@lr/domain';
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
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ScanDeps } from '../src/scan';
import { scanFor, type ScanCalendar } from '../src/scan-for';

let database: TestDatabase;
let redis: TestQueues;

const db = (): Database => database.db;

/** ALLOW_FUTURE_SCANS off, in Shanghai, by the real clock unless a test sets one. */
const guarded = (calendar: Partial<ScanCalendar> = {}): ScanDeps & ScanCalendar => ({
  db: db(),
  queues: redis.queues,
  log: createLogger('test', 'silent'),
  followUpDays: FOLLOW_UP_DAYS,
  timezone: 'Asia/Shanghai',
  allowFutureScans: false,
  ...calendar,
});

function licence(licenseNo: string, expiresOn: string): License {
  return validLicense(testLicense({ categoryCode: 'food', licenseNo, ...TEST_ENTERPRISE, expiresOn }));
}

const scanRows = () => db().selectFrom('scans').selectAll().orderBy('id').execute();
const reminderRows = () => db().selectFrom('reminders').select(['licenseId', 'leadDays', 'asOf']).orderBy('id').execute();

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(db(), testCategory({ code: 'food', channels: ['sms'] }));
});

beforeEach(async () => {
  await redis.queues.sms.obliterate({ force: true });
  await sql`truncate licenses, scans cascade`.execute(db());
});

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

describe('scanFor', () => {
  it('scans for today in the reminder time zone when no date is given: 00:30 in Shanghai is still yesterday in UTC', async () => {
    const now = () => new Date('2026-03-01T16:30:00Z');
    await expect(scanFor(guarded({ now }), { trigger: 'cron' })).resolves.toMatchObject({
      kind: 'scanned',
      asOf: '2026-03-02',
      summary: { asOf: '2026-03-02', trigger: 'cron', status: 'succeeded' },
    });
    await expect(scanFor(guarded({ now, timezone: 'UTC' }), { trigger: 'command' })).resolves.toMatchObject({
      kind: 'scanned',
      summary: { asOf: '2026-03-01', trigger: 'command' },
    });
  });

  it.each(['2026-02-30', '1999-12-31', '2101-01-01', '2026-3-1', ''])('refuses %j as invalid_as_of, and writes nothing', async (asOf) => {
    const answer = await scanFor(guarded(), { asOf, trigger: 'api' });
    expect(answer).toEqual({ kind: 'invalid_as_of', asOf, message: 'must be a real date (YYYY-MM-DD) from 2000-01-01 to 2100-12-31' });
    await expect(scanFor(guarded(), { asOf, trigger: 'api', dryRun: true })).resolves.toEqual(answer);
    expect(await scanRows()).toEqual([]);
  });

  it('takes the first and the last day of the range', async () => {
    await expect(scanFor(guarded({ allowFutureScans: true }), { asOf: '2000-01-01', trigger: 'command' })).resolves.toMatchObject({ kind: 'scanned' });
    await expect(scanFor(guarded({ allowFutureScans: true }), { asOf: '2100-12-31', trigger: 'command' })).resolves.toMatchObject({ kind: 'scanned' });
  });

  it('refuses a date after today before it writes anything, unless future scans are allowed; today is not the future', async () => {
    const today = localDate('Asia/Shanghai');
    const tomorrow = addDays(today, 1);
    await storeLicenses(db(), [licence('FUT-1', addDays(tomorrow, 20))]);

    const refused = await scanFor(guarded(), { asOf: tomorrow, trigger: 'command' });
    expect(refused).toEqual({ kind: 'as_of_in_future', asOf: tomorrow, today, message: expect.any(String) });
    expect(refused.kind === 'as_of_in_future' && refused.message).toMatch(new RegExp(`^${tomorrow} is after today \\(${today} in Asia/Shanghai\\).*ALLOW_FUTURE_SCANS=on`));
    expect(await scanRows()).toEqual([]);
    expect(await reminderRows()).toEqual([]);
    expect(await redis.queues.sms.getJobs(['waiting'])).toEqual([]);

    await expect(scanFor(guarded(), { asOf: today, trigger: 'command' })).resolves.toMatchObject({
      kind: 'scanned',
      summary: { asOf: today, status: 'succeeded', remindersCreated: 1 },
    });
    await expect(scanFor(guarded({ allowFutureScans: true }), { asOf: tomorrow, trigger: 'command' })).resolves.toMatchObject({
      kind: 'scanned',
      summary: { asOf: tomorrow, status: 'succeeded', skipped: 1 },
    });
  });

  it('judges today in the reminder time zone: 00:30 in Shanghai is still yesterday in UTC', async () => {
    const now = () => new Date('2026-03-01T16:30:00Z');
    await expect(scanFor(guarded({ now, timezone: 'UTC' }), { asOf: '2026-03-02', trigger: 'command' })).resolves.toMatchObject({
      kind: 'as_of_in_future',
      today: '2026-03-01',
    });
    await expect(scanFor(guarded({ now, timezone: 'Asia/Shanghai' }), { asOf: '2026-03-02', trigger: 'command' })).resolves.toMatchObject({
      kind: 'scanned',
      summary: { status: 'succeeded' },
    });
  });

  it('answers a dry run for a date after today even when future scans are not allowed: it sends nothing', async () => {
    await storeLicenses(db(), [licence('DRY-1', '2099-01-20')]);
    const answer = await scanFor(guarded(), { asOf: '2099-01-01', trigger: 'api', dryRun: true });
    expect(answer).toMatchObject({ kind: 'dry_run', asOf: '2099-01-01', dryRun: { dryRun: true, asOf: '2099-01-01', remindersCreated: 1 } });
    expect(await scanRows()).toEqual([]);
    expect(await reminderRows()).toEqual([]);
  });

  it('answers scan_in_progress while another scan holds the lock, for a scan and a dry run, and records no scan', async () => {
    const other = await database.pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
      await expect(scanFor(guarded(), { trigger: 'cron' })).resolves.toEqual({ kind: 'scan_in_progress', asOf: localDate('Asia/Shanghai') });
      await expect(scanFor(guarded(), { asOf: '2026-03-02', trigger: 'api', dryRun: true })).resolves.toEqual({ kind: 'scan_in_progress', asOf: '2026-03-02' });
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
      other.release();
    }
    expect(await scanRows()).toEqual([]);
  });

  it('answers failed with the error when the scan fails, and the scan records it failed', async () => {
    // The scan waits for the categories, locked here, and its wait is cancelled.
    const other = await database.pool.connect();
    const waiting = `select pid from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`;
    try {
      await other.query('begin');
      await other.query('lock table categories in access exclusive mode');
      const answer = scanFor(guarded(), { asOf: '2026-03-02', trigger: 'command' });
      for (let i = 0; i < 100 && (await other.query(waiting)).rowCount === 0; i++) await new Promise((r) => setTimeout(r, 50));
      await other.query(`select pg_cancel_backend(pid) from (${waiting}) w`);
      const failed = await answer;
      expect(failed).toMatchObject({ kind: 'failed', asOf: '2026-03-02', error: expect.any(Error) });
    } finally {
      await other.query('rollback').catch(() => {});
      other.release();
    }
    expect(await scanRows()).toMatchObject([{ asOf: '2026-03-02', status: 'failed' }]);
  });
});
