/** The store the fault tests share: licences due today, in one category and time zone. */
import { insertCategory, type Database } from '@lr/db';
import { localDate } from '@lr/domain';
import { testCategory } from '@lr/testing';
import { sql } from 'kysely';

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
