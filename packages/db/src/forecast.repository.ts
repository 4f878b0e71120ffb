import { sql } from 'kysely';
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
    .execute() as Promise<ForecastCategory[]>;
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
export async function forecastCounts(
  db: Database,
  period: { from: string; to: string },
  windows: ForecastWindow[],
  filter: Pick<ReportFilter, 'categoryCode' | 'regionCode'>,
): Promise<ForecastDayCounts[]> {
  if (windows.length === 0) return [];
  const longest = Math.max(...windows.map((w) => w.toDaysLeft));
  const windowRows = sql`
    unnest(${windows.map((w) => w.categoryCode)}::text[], ${windows.map((w) => w.lead)}::int[],
           ${windows.map((w) => w.fromDaysLeft)}::int[], ${windows.map((w) => w.toDaysLeft)}::int[],
           ${windows.map((w) => w.sms)}::bool[], ${windows.map((w) => w.push)}::bool[])
      as w(category_code, lead, from_days_left, to_days_left, sms, push)`;
  return db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx);
    await sql`set local work_mem = '256MB'`.execute(trx);
    const { rows } = await sql<ForecastDayCounts>`
      with due as (
        select greatest(l.expires_on - w.to_days_left, ${period.from}::date) as day, w.lead,
               case when w.sms then l.phone end as phone,
               case when w.push then l.platform_user_id end as platform_user_id
          from licenses l
          join ${windowRows} on w.category_code = l.category_code
         where l.status = 'active'
           and l.expires_on between ${period.from}::date and ${period.to}::date + ${longest}::int
           and ${allOf(licenseConditions(filter))}
           and greatest(l.expires_on - w.to_days_left, ${period.from}::date) <= least(${period.to}::date, l.expires_on - w.from_days_left)
           and not exists (select 1 from reminders r where (r.license_id, r.expires_on, r.lead_days) = (l.id, l.expires_on, w.lead))
      )
      select to_char(day, 'YYYY-MM-DD') as date, count(*)::int as reminders,
             count(distinct phone)::int as sms, count(distinct platform_user_id)::int as push
        from due
       group by day
       order by day`.execute(trx);
    return rows;
  });
}
