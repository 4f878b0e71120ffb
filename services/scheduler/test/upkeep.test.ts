import { insertCategory } from '@lr/db';
import { addDays } from '@lr/domain';
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
import { createTask } from 'node-cron';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanForToday } from '../src/cron';
import { firedEarlierToday, owesTodaysScan, upkeep } from '../src/upkeep';

const TZ = 'Asia/Shanghai';
const log = createLogger('test', 'silent');
// 07:30 in Shanghai is 23:30 UTC the day before.
const daily = createTask('30 7 * * *', () => {}, { timezone: TZ });

describe('whether the daily scan time has come today (local time)', () => {
  it.each([
    ['2026-03-01T23:29:59Z', false, 'a second before 07:30 on 2 March'],
    ['2026-03-01T23:30:00Z', true, 'at 07:30'],
    ['2026-03-02T15:59:59Z', true, 'at 23:59:59, still 2 March'],
    ['2026-03-02T16:00:30Z', false, 'just after local midnight: a new day, its scan not yet due'],
  ])('%s: %s (%s)', (instant, expected) => {
    expect(firedEarlierToday(daily, TZ, new Date(instant))).toBe(expected);
  });

  it('a cron that fires every minute has fired by the first minute of the day', () => {
    expect(firedEarlierToday(createTask('* * * * *', () => {}, { timezone: TZ }), TZ, new Date('2026-03-01T16:00:00Z'))).toBe(true);
  });
});

describe('upkeep', () => {
  let database: TestDatabase;
  let redis: TestQueues;
  const AT = new Date('2026-03-02T02:00:00Z'); // 10:00 on 2 March in Shanghai
  const TODAY = '2026-03-02';

  beforeAll(async () => {
    [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
    await insertCategory(database.db, testCategory({ code: 'food' }));
    const licence = validLicense(testLicense({ categoryCode: 'food', licenseNo: 'UP-1', ...TEST_ENTERPRISE, expiresOn: addDays(TODAY, 10) }));
    await storeLicenses(database.db, [licence]);
  });

  afterAll(async () => {
    await redis.cleanup();
    await database.drop();
  });

  const options = () => {
    const deps = { db: database.db, queues: redis.queues, log, followUpDays: FOLLOW_UP_DAYS };
    return {
      deps: { ...deps, redis: redis.connection, claimLeaseSeconds: 60 },
      timezone: TZ,
      dailyScan: daily,
      scanToday: scanForToday({ timezone: TZ, deps, log, now: () => AT }),
      intervalMs: 60_000,
      messageRetentionDays: 365,
      log,
      now: () => AT,
    };
  };
  const scans = () => database.db.selectFrom('scans').select(['asOf', 'status', 'remindersCreated']).orderBy('id').execute();

  it('owes today’s scan after its time when none succeeded, and runs it; then owes nothing', async () => {
    // A failed scan does not count: the scan is still owed.
    await database.db.insertInto('scans').values({ asOf: TODAY, trigger: 'cron', status: 'failed', error: 'connection terminated' }).execute();
    expect(await owesTodaysScan(options(), AT)).toBe(true);
    expect(await owesTodaysScan(options(), new Date('2026-03-01T23:00:00Z'))).toBe(false); // 07:00, before its time

    await upkeep(options());
    expect(await scans()).toEqual([
      { asOf: TODAY, status: 'failed', remindersCreated: 0 },
      { asOf: TODAY, status: 'succeeded', remindersCreated: 1 },
    ]);
    expect(await owesTodaysScan(options(), AT)).toBe(false);
    await upkeep(options());
    expect(await scans()).toHaveLength(2);
  });

  it('puts back the messages Redis lost', async () => {
    const waiting = async () => (await redis.queues.sms.getJobs(['waiting'])).map((j) => j.id);
    const before = await waiting();
    expect(before).toHaveLength(1);
    await redis.dropKeys();
    await upkeep(options());
    expect(await waiting()).toEqual(before);
  });
});
