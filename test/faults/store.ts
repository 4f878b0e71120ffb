/**
 * What the fault tests share: a store of licences due today, in one category and time zone,
 * and the SMS queue's view of its messages.
 */
import { insertCategory, type Database } from '@lr/db';
import { localDate } from '@lr/domain';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import { testCategory } from '@lr/testing';
import { sql } from 'kysely';
import { expect } from 'vitest';

export const TZ = 'Asia/Shanghai';
export const CATEGORY = 'food';

/**
 * `count` licences due today, one per phone, expiring over the next 60 days: a scan gives
 * each one reminder and one SMS. Returns today's date.
 */
export async function seedDueLicenses(db: Database, count: number): Promise<string> {
  await insertCategory(db, testCategory({ code: CATEGORY, channels: ['sms'] }));
  const today = localDate(TZ);
  await sql`
    insert into licenses (category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                          holder_id_masked, phone, region_code, valid_from, expires_on)
    select ${CATEGORY}, 'F-' || i, '某某商贸有限公司', 'enterprise', decode(md5('sealed' || i), 'hex'), decode(md5('hash' || i), 'hex'),
           '9141**********001X', '+86139' || lpad(i::text, 8, '0'), '411224', date '2020-01-01', ${today}::date + 1 + i % 60
      from generate_series(1, ${count}) i`.execute(db);
  return today;
}

/** The ids of the SMS jobs that will run (waiting, delayed, active, prioritized) in the queues under `prefix`. */
async function queuedSmsJobIds(redisUrl: string, prefix: string): Promise<string[]> {
  const connection = redisConnection(redisUrl);
  const queues = openMessageQueues(connection, prefix);
  try {
    const jobs = await queues.sms.getJobs(['waiting', 'delayed', 'active', 'prioritized'], 0, -1);
    return jobs.map((j) => j.id!);
  } finally {
    await queues.close();
    await connection.quit();
  }
}

/** Every one of the `count` messages of the database is held once by the SMS queue. */
export async function expectEveryMessageQueued(world: { db: Database; redisUrl: string; prefix: string }, count: number): Promise<void> {
  const ids = await world.db.selectFrom('outgoingMessages').select('id').execute();
  expect(ids.length).toBe(count);
  const held = await queuedSmsJobIds(world.redisUrl, world.prefix);
  expect(held.length).toBe(count);
  expect(new Set(held)).toEqual(new Set(ids.map(({ id }) => `sms-${id}`)));
}
