import { sql, type RawBuilder } from 'kysely';
import type { Database } from './db';
import { allOf, licenseConditions, type ReportFilter } from './report-filter';

/** An enabled category as the forecast needs it: its lead days and channels. */
export interface ForecastCategory {
  code: string;
  leadDays: number[];
  channels: ('sms' | 'push')[];
}

/**
 * One reminder window of a category (docs/rules.md): licences with fromDaysLeft <= daysLeft
 * <= toDaysLeft are due for the reminder of `lead`, sent on the category's channels.
 */
export interface ForecastWindow {
  categoryCode: string;
  lead: number;
  fromDaysLeft: number;
  toDaysLeft: number;
  sms: boolean;
  push: boolean;
}

/** What the scan of one day would create: reminders, and messages per channel after joining per recipient. */
export interface ForecastDayCounts {
  date: string;
  reminders: number;
  sms: number;
  push: number;
}

/** The enabled categories (or the one asked for, if enabled), as the scan sees them. */
export function forecastCategories(db: Database, categoryCode?: string): Promise<ForecastCategory[]> {
  return db
    .selectFrom('categories')
    .select(['code', 'leadDays', 'channels'])
    .where('enabled', '=', true)
    .$if(categoryCode !== undefined, (q) => q.where('code', '=', categoryCode!))
    .orderBy('code')
    .execute();
}

/**
 * The days of [from, to] on which a scan would create reminders, if one ran every day from
 * `from` and no licence changed: per day, the reminders and the distinct recipients per
 * channel (the scan's one message per recipient, scan and channel). Days without any are
 * left out.
 *
 * A licence is in a window on the days D with fromDaysLeft <= expiresOn - D <= toDaysLeft.
 * Its reminder of that window is made on the first of those days that is a scan day: the
 * day it enters the window, or `from` (the first scan catches up on every window it is
 * in), and only while the window lasts. Existing reminders, whatever their outcome, are
 * made already (the unique key holds them once ever).
 */
export function forecastQuery(
  period: { from: string; to: string },
  windows: ForecastWindow[],
  filter: Pick<ReportFilter, 'categoryCode' | 'regionCode'>,
): RawBuilder<ForecastDayCounts> {
  const from = sql`${period.from}::date`;
  const to = sql`${period.to}::date`;
  const lastExpiry = sql`${period.to}::date + ${Math.max(0, ...windows.map((w) => w.toDaysLeft))}::int`;
  const windowRows = sql`
    unnest(${windows.map((w) => w.categoryCode)}::text[], ${windows.map((w) => w.lead)}::int[],
           ${windows.map((w) => w.fromDaysLeft)}::int[], ${windows.map((w) => w.toDaysLeft)}::int[],
           ${windows.map((w) => w.sms)}::bool[], ${windows.map((w) => w.push)}::bool[])
      as w(category_code, lead, from_days_left, to_days_left, sms, push)`;
  // The day a licence expiring on e gets the reminder of window w, if it gets it in the period.
  const day = (e: RawBuilder<unknown>) => sql`greatest(${e} - w.to_days_left, ${from})`;
  const inWindow = (e: RawBuilder<unknown>) => sql`${day(e)} <= least(${to}, ${e} - w.from_days_left)`;
  return sql<ForecastDayCounts>`
    with reminded as (
      -- The leads whose reminder each licence has already for an expiry date (any outcome:
      -- the unique key makes each once ever).
      select r.license_id, r.expires_on, array_agg(r.lead_days) as leads
        from reminders r
       where r.expires_on between ${from} and ${lastExpiry}
       group by 1, 2
    ), due as (
      -- Each reminder the period's scans would make: its day and the recipients its channels reach.
      -- Phones are '+861' and 10 digits (the table's check): as numbers they sort faster than text.
      select ${day(sql`l.expires_on`)} as day,
             case when w.sms then substr(l.phone, 4)::bigint end as phone,
             case when w.push then l.platform_user_id collate "C" end as app_user
        from licenses l
        join ${windowRows} on w.category_code = l.category_code
        left join reminded r on (r.license_id, r.expires_on) = (l.id, l.expires_on)
       where l.status = 'active' and l.expires_on between ${from} and ${lastExpiry}
         and ${allOf(licenseConditions(filter))}
         and ${inWindow(sql`l.expires_on`)}
         and (r.leads is null or w.lead <> all(r.leads))
    )
    select to_char(day, 'YYYY-MM-DD') as date, count(*)::int as reminders,
           count(distinct phone)::int as sms, count(distinct app_user)::int as push
      from due
     group by day
     order by day`;
}

/**
 * forecastQuery's rows. A year's forecast sorts millions of reminders by day: in memory, and
 * without compiling the statement (JIT takes longer than it saves).
 */
export async function forecastCounts(
  db: Database,
  period: { from: string; to: string },
  windows: ForecastWindow[],
  filter: Pick<ReportFilter, 'categoryCode' | 'regionCode'>,
): Promise<ForecastDayCounts[]> {
  if (windows.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx);
    await sql`set local work_mem = '256MB'`.execute(trx);
    const { rows } = await forecastQuery(period, windows, filter).execute(trx);
    return rows;
  });
}
