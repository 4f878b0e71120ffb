// A realistic store for the report benchmarks (the ledger, the figures): a year of daily
// scans over the four demo categories, written in SQL (generate_series) in a minute or two.
//
//   import { prepareReportStore, REPORT_BENCH } from './report-store';
//   const { database, store } = await prepareReportStore(again);   // lr_bench, seeded or kept
//   const api = startService('api', { ...REPORT_BENCH.apiEnv, PORT: '3903' }, REPORT_BENCH.apiNodeFlags);
//   // requests with `authorization: Bearer ${REPORT_BENCH.adminKey}`; store.firstAsOf..lastAsOf is the year
//
// or, on a database of one's own: seedReportStore(await recreateBenchDatabase(url), options).
//
// What it holds (all deterministic; the "random" choices are hashes of row numbers):
// - licences of Henan (region codes 41ccxx: 17 cities, 20 counties each), 90% individuals
//   (names like 张伟 or 欧阳娜娜), 10% enterprises (one in 500 with a comma and quotes in its
//   name); 94% with a mobile, 55% with an app account; categories food-business 50%,
//   public-hygiene 25%, road-transport 15%, water-abstraction 10%;
// - one cycle per licence, expiring between firstAsOf + 60 and firstAsOf + 424 days; a scan
//   on every day of the year from firstAsOf (the `scans` rows) made its 60-, 30- and
//   10-day reminders, those that fall in the year: 2.78 a licence, `reminders` in all;
// - one delivery per usable channel (sms with a mobile, push with an app account), each with
//   its own outgoing message (no two licences share a recipient); 2.7% of the reminders
//   have none (undeliverable). Deliveries of the last day's scan are pending or queued; the
//   rest: SMS 86% delivered, 4% sent, 4% undelivered, 3% failed, 3% cancelled; push 92%
//   sent, 4% failed, 4% cancelled; the messages' attempts, times (from 08:00 Shanghai time on
//   the scan's day), provider ids and error codes to match. Messages carry no text (no
//   report reads it), and there are no delivery events;
// - cycles that ended before lastAsOf: 92% renewed (within the 9 days before expiry, after
//   their last reminder: a `renewals` row, the licence's expiry three years on, the
//   reminders' outcome `renewed`, and, where the schema has it (migration 0008), the credit
//   to the last reminder that reached the holder), the rest `expired` the day after; later
//   cycles are `open`;
// - where the schema has them (migration 0011), renewal-link openings: a third of the messages
//   sent or delivered, one in ten of those opened twice.
import { sql } from 'kysely';
import { connect, type DatabaseHandle } from '@lr/db';
import { recreateBenchDatabase } from './bench-database';

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench';
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const TIMEZONE = 'Asia/Shanghai';

/** What the report benchmarks share: the store's size and database, and how to run the API on it. */
export const REPORT_BENCH = {
  databaseUrl: DATABASE_URL,
  /** BENCH_REMINDERS [1,000,000] */
  reminders: Number(process.env.BENCH_REMINDERS ?? 1_000_000),
  timezone: TIMEZONE,
  adminKey: ADMIN_KEY,
  /** the API's environment but for PORT */
  apiEnv: {
    DATABASE_URL,
    ADMIN_API_KEY: ADMIN_KEY,
    INBOX_JWT_SECRET: 'bench-inbox-secret-0123456789abcdef01',
    PII_KEY: 'bench-pii-key-0123456789abcdef0123456789',
    QUEUE_PREFIX: 'lr-bench',
    REMINDER_TIMEZONE: TIMEZONE,
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  },
  /** BENCH_API_NODE_FLAGS [--max-old-space-size=256], as docker-compose.yml and npm start run the API */
  apiNodeFlags: (process.env.BENCH_API_NODE_FLAGS ?? '--max-old-space-size=256').split(' ').filter(Boolean),
};

export interface ReportStoreOptions {
  /** how many reminders to make [1,000,000] */
  reminders?: number;
  /** the first scan's date; scans run daily for 365 days [2030-01-01] */
  firstAsOf?: string;
  /** REMINDER_TIMEZONE of the times written [Asia/Shanghai] */
  timezone?: string;
}

export interface ReportStore {
  firstAsOf: string;
  lastAsOf: string;
  licenses: number;
  reminders: number;
  /** reminders without deliveries */
  undeliverable: number;
  deliveries: number;
  messages: number;
  renewals: number;
  /** rows of the whole ledger: a row per delivery, and one per reminder without */
  ledgerRows: number;
  /** how long seeding took */
  seconds: number;
}

/** Reminders a licence gets on average: its 60-day one always, its 30- and 10-day ones when they fall in the year. */
const REMINDERS_PER_LICENSE = (365 + 335 + 315) / 365;

/**
 * Fills a freshly migrated database that has the demo categories (recreateBenchDatabase)
 * with the store above. Not for a database that already holds licences or reminders.
 */
export async function seedReportStore(database: DatabaseHandle, options: ReportStoreOptions = {}): Promise<ReportStore> {
  const reminders = options.reminders ?? 1_000_000;
  const first = options.firstAsOf ?? '2030-01-01';
  const tz = options.timezone ?? 'Asia/Shanghai';
  const started = process.hrtime.bigint();
  // One more licence in fifty than the average asks: the reminders are cut at `reminders`.
  const licenses = Math.ceil((reminders / REMINDERS_PER_LICENSE) * 1.02) + 10;
  const { db } = database;
  await db.connection().execute(async (c) => {
    await sql`set synchronous_commit = off`.execute(c);
    // x % n of a hash of (k, salt): a deterministic, evenly spread choice per row.
    await sql`create or replace function pg_temp.pick(k bigint, salt int, n int) returns int
                language sql immutable as $$ select ((hashint8(k * 7919 + salt) & 2147483647) % n)::int $$`.execute(c);
    await sql`
      insert into scans (id, as_of, trigger, status, started_at, finished_at)
      overriding system value
      select d + 1, ${first}::date + d, 'cron', 'succeeded',
             ((${first}::date + d) + time '07:30') at time zone ${tz}, ((${first}::date + d) + time '07:31') at time zone ${tz}
        from generate_series(0, 364) d`.execute(c);
    await sql`
      insert into licenses (id, category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                            holder_id_masked, phone, platform_user_id, region_code, valid_from, expires_on, status)
      overriding system value
      select k, category, upper(left(category, 2)) || lpad(k::text, 9, '0'),
             case when enterprise then
                    case when pg_temp.pick(k, 2, 500) = 0 then '卢氏县"豫西"' || k || '号餐饮, 有限公司'
                         else (array['卢氏县', '洛宁县', '栾川县', '嵩县', '汝阳县'])[1 + pg_temp.pick(k, 3, 5)] || k || '号'
                              || (array['餐饮有限公司', '运输有限公司', '商贸有限公司', '水务有限公司'])[1 + pg_temp.pick(k, 4, 4)] end
                  else (array['张', '王', '李', '赵', '刘', '陈', '杨', '黄', '周', '吴', '徐', '孙', '马', '朱', '胡', '郭', '何', '林', '欧阳', '司马'])[1 + pg_temp.pick(k, 5, 20)]
                       || (array['伟', '芳', '娜娜', '敏', '静', '强', '磊', '洋', '艳', '勇', '军', '杰', '娟', '涛', '明'])[1 + pg_temp.pick(k, 6, 15)] end,
             case when enterprise then 'enterprise' else 'individual' end,
             decode(md5(k::text) || md5('s' || k), 'hex'), decode(md5('h' || k) || md5('k' || k), 'hex'),
             case when enterprise then '914***********' else '411***********' end || lpad((k % 10000)::text, 4, '0'),
             case when pg_temp.pick(k, 7, 100) < 94 then '+86' || (array['138', '139', '137', '150', '186', '151'])[1 + pg_temp.pick(k, 8, 6)] || lpad((k % 100000000)::text, 8, '0') end,
             case when pg_temp.pick(k, 9, 100) < 55 then 'hn-app-' || k end,
             '41' || lpad((1 + pg_temp.pick(k, 10, 17))::text, 2, '0') || lpad((1 + pg_temp.pick(k, 11, 20))::text, 2, '0'),
             expires - 1095, expires, 'active'
        from (select k, ${first}::date + 60 + (k * 677) % 365 as expires, pg_temp.pick(k, 1, 100) < 10 as enterprise,
                     case when pg_temp.pick(k, 12, 100) < 50 then 'food-business' when pg_temp.pick(k, 12, 100) < 75 then 'public-hygiene'
                          when pg_temp.pick(k, 12, 100) < 90 then 'road-transport' else 'water-abstraction' end as category
                from generate_series(1, ${licenses}::int) k) g`.execute(c);
    await sql`
      insert into reminders (license_id, expires_on, lead_days, as_of, days_left, scan_id, created_at)
      select l.id, l.expires_on, lead, l.expires_on - lead, lead, (l.expires_on - lead - ${first}::date) + 1,
             ((l.expires_on - lead) + time '07:30') at time zone ${tz}
        from licenses l cross join (values (60), (30), (10)) as leads(lead)
       where l.expires_on - lead <= ${first}::date + 364
       order by l.id, lead desc
       limit ${reminders}`.execute(c);
    await sql`delete from licenses l where not exists (select 1 from reminders r where r.license_id = l.id)`.execute(c);
    // Message ids follow the reminder's (2r - 1 its SMS, 2r its push); a delivery shares its message's id.
    await sql`
      insert into outgoing_messages (id, scan_id, channel, recipient, status, attempts, provider_message_id, error_code,
                                     error_message, sent_at, delivered_at, created_at, updated_at)
      overriding system value
      select id, scan_id, channel, recipient, status,
             case when status in ('pending', 'queued', 'cancelled') then 0 when status = 'failed' then 1 + 7 * (roll % 2)
                  when roll % 10 = 0 then 2 else 1 end,
             case when status in ('sent', 'delivered', 'undelivered') then upper(left(channel, 2)) || id end,
             case when status = 'undelivered' then (array['30003', '30005'])[1 + roll % 2]
                  when status = 'failed' and channel = 'sms' then (array['21211', '21610'])[1 + roll % 2]
                  when status = 'failed' then (array['410', 'timeout'])[1 + roll % 2] end,
             case when status = 'undelivered' then 'unreachable handset'
                  when status = 'failed' then 'refused by the provider' end,
             case when status in ('sent', 'delivered', 'undelivered') then sent_at end,
             case when status = 'delivered' then sent_at + make_interval(secs => 2 + roll % 20) end,
             created_at, coalesce(sent_at, created_at)
        from (select id, scan_id, channel, recipient, roll, created_at,
                     ((as_of + time '08:00') at time zone ${tz}) + make_interval(secs => roll * 7) as sent_at,
                     case when as_of = ${first}::date + 364 then (array['pending', 'queued'])[1 + roll % 2]
                          when channel = 'sms' then case when roll < 860 then 'delivered' when roll < 900 then 'sent'
                                                         when roll < 940 then 'undelivered' when roll < 970 then 'failed' else 'cancelled' end
                          else case when roll < 920 then 'sent' when roll < 960 then 'failed' else 'cancelled' end end as status
                from (select case c.channel when 'sms' then 2 * r.id - 1 else 2 * r.id end as id, r.scan_id, r.as_of, r.created_at, c.channel,
                             case c.channel when 'sms' then l.phone else l.platform_user_id end as recipient,
                             pg_temp.pick(case c.channel when 'sms' then 2 * r.id - 1 else 2 * r.id end, 13, 1000) as roll
                        from reminders r join licenses l on l.id = r.license_id
                        cross join (values ('sms'), ('push')) as c(channel)
                       where (c.channel = 'sms' and l.phone is not null) or (c.channel = 'push' and l.platform_user_id is not null)) m) s`.execute(c);
    await sql`
      insert into deliveries (id, reminder_id, channel, message_id, status, updated_at)
      overriding system value
      select id, (id + 1) / 2, channel, id, status, updated_at from outgoing_messages`.execute(c);
    // Cycles that ended by the last scan: renewed within the 9 days before expiry, or expired.
    await sql`
      with ended as (
        select id, expires_on as old, pg_temp.pick(id, 14, 100) < 92 as renewed,
               ((expires_on - pg_temp.pick(id, 15, 10)) + time '10:00') at time zone ${tz} as renewed_at
          from licenses where expires_on < ${first}::date + 364
      ), closed as (
        update reminders r set outcome = case when e.renewed then 'renewed' else 'expired' end,
                               outcome_at = case when e.renewed then e.renewed_at else ((e.old + 1) + time '07:30') at time zone ${tz} end
          from ended e where r.license_id = e.id
      ), renewed as (
        insert into renewals (license_id, old_expires_on, new_expires_on, created_at)
        select id, old, old + 1095, renewed_at from ended where renewed
      )
      update licenses l set expires_on = e.old + 1095, updated_at = e.renewed_at from ended e where l.id = e.id and e.renewed`.execute(c);
    const { rows: credit } = await sql<{ present: boolean }>`
      select exists (select 1 from information_schema.columns where table_name = 'reminders' and column_name = 'credited_channels') as present`.execute(c);
    if (credit[0]!.present) {
      await sql`
        with reached as (
          select distinct on (r.license_id) r.id,
                 case when count(*) filter (where d.status in ('sent', 'delivered')) = 2 then 'both'
                      else min(d.channel) filter (where d.status in ('sent', 'delivered')) end as channels
            from reminders r join deliveries d on d.reminder_id = r.id
           where r.outcome = 'renewed'
           group by r.id, r.license_id, r.as_of
          having count(*) filter (where d.status in ('sent', 'delivered')) > 0
           order by r.license_id, r.as_of desc, r.id desc
        )
        update reminders r set credited_channels = reached.channels from reached where r.id = reached.id`.execute(c);
    }
    const { rows: links } = await sql<{ present: boolean }>`select to_regclass('link_openings') is not null as present`.execute(c);
    if (links[0]!.present) {
      // A third of the messages that reached their holder had their renewal link opened, one in
      // ten of those twice: more than a county will see, so the figures' link count is not flattered.
      await sql`
        insert into link_openings (message_id, opened_at)
        select m.id, m.sent_at + make_interval(mins => 5 + n * 60 + pg_temp.pick(m.id, 17, 600))
          from outgoing_messages m cross join generate_series(0, 1) n
         where m.status in ('sent', 'delivered') and pg_temp.pick(m.id, 16, 100) < 33
           and (n = 0 or pg_temp.pick(m.id, 18, 10) = 0)`.execute(c);
    }
    await sql`
      update scans s set reminders_created = n.reminders, undeliverable = n.bare, messages_queued = n.messages
        from (select r.scan_id, count(*) as reminders,
                     count(*) filter (where not exists (select 1 from deliveries d where d.reminder_id = r.id)) as bare,
                     (select count(*) from outgoing_messages m where m.scan_id = r.scan_id) as messages
                from reminders r group by r.scan_id) n
       where s.id = n.scan_id`.execute(c);
    for (const table of ['scans', 'licenses', 'reminders', 'outgoing_messages', 'deliveries', 'renewals']) {
      await sql`select setval(pg_get_serial_sequence(${table}, 'id'), (select coalesce(max(id), 0) + 1 from ${sql.table(table)}), false)`.execute(c);
    }
  });
  await sql`vacuum analyze`.execute(db);
  return { ...(await describeReportStore(database)), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The store as it is in the database: its year of scans and its counts (`seconds` 0). */
export async function describeReportStore(database: DatabaseHandle): Promise<ReportStore> {
  const { rows } = await sql<Omit<ReportStore, 'ledgerRows' | 'seconds'>>`
    select (select min(as_of)::text from scans) as "firstAsOf", (select max(as_of)::text from scans) as "lastAsOf",
           (select count(*) from licenses)::int as licenses, (select count(*) from reminders)::int as reminders,
           (select count(*) from reminders r where not exists (select 1 from deliveries d where d.reminder_id = r.id))::int as undeliverable,
           (select count(*) from deliveries)::int as deliveries, (select count(*) from outgoing_messages)::int as messages,
           (select count(*) from renewals)::int as renewals`.execute(database.db);
  const store = rows[0]!;
  return { ...store, ledgerRows: store.deliveries + store.undeliverable, seconds: 0 };
}

/**
 * The shared store in REPORT_BENCH's database: with `again`, the one in place if it has
 * REPORT_BENCH.reminders reminders; otherwise the database is made anew and seeded.
 * Prints one line saying which, and what the store holds.
 */
export async function prepareReportStore(again: boolean): Promise<{ database: DatabaseHandle; store: ReportStore }> {
  const n = (value: number) => value.toLocaleString('en-US');
  if (again) {
    const database = connect(DATABASE_URL, { max: 4 });
    const store = await describeReportStore(database).catch(() => undefined);
    if (store?.reminders === REPORT_BENCH.reminders) {
      console.log(`store: kept (${n(store.reminders)} reminders, ${n(store.ledgerRows)} ledger rows, scans ${store.firstAsOf}..${store.lastAsOf})`);
      return { database, store };
    }
    await database.close();
  }
  const database = await recreateBenchDatabase(DATABASE_URL);
  const store = await seedReportStore(database, { reminders: REPORT_BENCH.reminders, timezone: TIMEZONE });
  console.log(
    `store: ${n(store.licenses)} licences, ${n(store.reminders)} reminders (${n(store.undeliverable)} undeliverable), ` +
      `${n(store.deliveries)} deliveries and messages, ${n(store.renewals)} renewals, scans ${store.firstAsOf}..${store.lastAsOf}; ` +
      `${n(store.ledgerRows)} ledger rows; seeded in ${store.seconds.toFixed(0)} s`,
  );
  return { database, store };
}
