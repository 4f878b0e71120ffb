// The stores every benchmark resets: its PostgreSQL database, one scan's rows, its queues' keys.
import { connect, ensureDatabase, insertCategory, migrate, type DatabaseHandle } from '@lr/db';
import { demoCategories } from '@lr/demo';
import type { Redis } from 'ioredis';

/** Drops the benchmark's database, creates it again, migrates it and loads the four demo categories. */
export async function recreateBenchDatabase(databaseUrl: string): Promise<DatabaseHandle> {
  const server = new URL(databaseUrl);
  const name = server.pathname.slice(1);
  server.pathname = '/postgres';
  const admin = connect(server.toString(), { max: 1 });
  await admin.pool.query(`drop database if exists ${name} with (force)`);
  await admin.close();
  await ensureDatabase(databaseUrl);
  const database = connect(databaseUrl, { max: 4 });
  await migrate(database.db);
  for (const category of demoCategories()) await insertCategory(database.db, category);
  return database;
}

/**
 * `count` enterprise licences of the demo's food-business category, each with a phone of its
 * own (and, with `appUsers`, a platform user of its own), expiring `asOf` + 11 to 30 days: one
 * 30-day reminder each. Numbered from `prefix`, written in one statement, then analysed.
 */
export async function seedDueLicenses(database: DatabaseHandle, { count, asOf, prefix, appUsers }: { count: number; asOf: string; prefix: string; appUsers: boolean }): Promise<void> {
  await database.pool.query(
    `insert into licenses (category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                           holder_id_masked, phone, platform_user_id, region_code, valid_from, expires_on, status)
     select 'food-business', $3 || lpad(g::text, 9, '0'), '卢氏县商户' || g || '有限公司', 'enterprise',
            decode(md5('i' || g) || md5('s' || g) || left(md5('t' || g), 28), 'hex'), sha256(('h' || g)::text::bytea),
            '91411224MA******' || lpad((g % 100)::text, 2, '0'),
            '+86139' || lpad(g::text, 8, '0'), case when $4 then 'bench-user-' || g end, '411224',
            $2::date + 11 + g % 20 - 1825, $2::date + 11 + g % 20, 'active'
       from generate_series(1, $1::int) g`,
    [count, asOf, prefix, appUsers],
  );
  await database.pool.query('vacuum analyze licenses');
}

/**
 * Undoes one scan: its reminders, deliveries, events, messages and inbox rows, and the
 * expiries it recorded, so the next run finds the same work.
 */
export async function undoScan(database: DatabaseHandle, scanId: number): Promise<void> {
  const q = (text: string) => database.pool.query(text, [scanId]);
  await q(`delete from inbox_messages i using outgoing_messages m where i.message_id = m.id and m.scan_id = $1`);
  await q(`delete from delivery_events e using deliveries d, reminders r where e.delivery_id = d.id and d.reminder_id = r.id and r.scan_id = $1`);
  await q(`delete from deliveries d using reminders r where d.reminder_id = r.id and r.scan_id = $1`);
  await q(`delete from outgoing_messages where scan_id = $1`);
  await q(`delete from reminders where scan_id = $1`);
  await q(`update reminders set outcome = 'open', outcome_at = null
            where outcome = 'expired' and outcome_at >= (select started_at from scans where id = $1)`);
}

/** Deletes the keys that match `pattern` (a bench's queue prefix, `prefix:*`, or one queue's, `prefix:sms:*`). */
export async function dropQueueKeys(redis: Redis, pattern: string): Promise<number> {
  let dropped = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) {
    if (keys.length === 0) continue;
    await redis.unlink(...keys);
    dropped += keys.length;
  }
  return dropped;
}
