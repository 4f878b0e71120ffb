import { SCAN_LOCK } from '@lr/db';
import type { MessageQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { FOLLOW_UP_DAYS, freshDatabase, freshMessageQueues, type TestDatabase, type TestQueues } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanForToday, scheduleDailyScan } from '../src/cron';

let database: TestDatabase;
let redis: TestQueues;
let queues: MessageQueues;
const log = createLogger('test', 'silent');

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  ({ queues } = redis);
});

afterAll(async () => {
  await redis.cleanup();
  await database.drop();
});

describe('the daily scan of the scheduler', () => {
  it('scans for the business date of the reminder time zone, not of the server', async () => {
    const deps = { db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS };
    // 16:30 UTC on 1 March is already 00:30 on 2 March in Shanghai.
    const tick = scanForToday({ timezone: 'Asia/Shanghai', deps, log, now: () => new Date('2026-03-01T16:30:00Z') });
    expect(await tick()).toMatchObject({ asOf: '2026-03-02', trigger: 'cron', status: 'succeeded' });
    const utcTick = scanForToday({ timezone: 'UTC', deps, log, now: () => new Date('2026-03-01T16:30:00Z') });
    expect(await utcTick()).toMatchObject({ asOf: '2026-03-01' });
  });

  it.each([
    ['2026-02-28T15:59:59Z', '2026-02-28'], // 23:59:59 on 28 February in Shanghai
    ['2026-02-28T16:00:00Z', '2026-03-01'], // local midnight: the next business date
    ['2028-02-28T16:00:00Z', '2028-02-29'], // a leap day
  ])('at %s the scan is for %s', async (instant, asOf) => {
    const deps = { db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS };
    const tick = scanForToday({ timezone: 'Asia/Shanghai', deps, log, now: () => new Date(instant) });
    expect(await tick()).toMatchObject({ asOf, status: 'succeeded' });
  });

  it('steps aside while another replica scans, without failing or recording a scan', async () => {
    const deps = { db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS };
    const other = await database.pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
      const before = await database.db.selectFrom('scans').select('id').execute();
      const tick = scanForToday({ timezone: 'Asia/Shanghai', deps, log });
      expect(await tick()).toBeUndefined();
      expect(await database.db.selectFrom('scans').select('id').execute()).toHaveLength(before.length);
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
      other.release();
    }
  });

  it('stopped while a tick’s scan runs, waits for that scan to finish', async () => {
    const deps = { db: database.db, queues, log, followUpDays: FOLLOW_UP_DAYS };
    const blocker = await database.pool.connect();
    try {
      // The scan will wait at its read of the categories until this transaction ends.
      await blocker.query('begin');
      await blocker.query('lock table categories in access exclusive mode');
      const before = (await database.db.selectFrom('scans').select('id').execute()).length;
      const daily = scheduleDailyScan({ cronExpression: '* * * * * *', timezone: 'Asia/Shanghai', deps, log });
      const running = async () => (await database.db.selectFrom('scans').select('id').where('status', '=', 'running').execute()).length;
      for (let i = 0; i < 50 && (await running()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await running()).toBe(1);

      let stopped = false;
      const stopping = daily.stop().then(() => (stopped = true));
      // The scan is provably not done: its statement waits for the lock this test holds. A
      // stop() that did not wait for it would have returned by now (a turn of the event loop).
      const waitingForLock = async () =>
        (await blocker.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)).rows[0]!.n;
      for (let i = 0; i < 50 && (await waitingForLock()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await waitingForLock()).toBe(1);
      await new Promise((r) => setImmediate(r));
      expect(stopped).toBe(false);
      await blocker.query('commit');
      await stopping;
      const scans = await database.db.selectFrom('scans').select(['status']).orderBy('id').execute();
      expect(scans.slice(before)).toEqual([{ status: 'succeeded' }]);
    } finally {
      await blocker.query('rollback').catch(() => {});
      blocker.release();
    }
  });
});

