import { sql, type RawBuilder } from 'kysely';
import type { Database } from './db';
import { allOf, reminderConditions, type ReportFilter } from './report-filter';

/** Where a delivery stands, in the figures. */
export type DeliveryBucket = 'pending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'cancelled';

/** What the figures of a period may be split by: the licence's category or region, or the reminder's month. */
export type StatsGroupBy = 'category' | 'region' | 'month';

/** The counts of one group's reminders and their deliveries (`key` null: the whole period). */
export interface ReminderCounts {
  key: string | null;
  reached: number;
  undeliverable: number;
  failed: number;
  inProgress: number;
  cancelled: number;
  /** deliveries by channel and status, `pending` being pending, queued and sending */
  deliveries: Record<'sms' | 'push', Record<DeliveryBucket, number>>;
  enterprisesReached: number;
  individualsReached: number;
}

/** The cycles a group's reminders belong to, counted whole, by whether they were reached and how they ended. */
export interface CycleCounts {
  key: string | null;
  reached: boolean;
  outcome: 'renewed' | 'expired' | 'open';
  cycles: number;
}

/** Renewed, reached cycles by the lead days and channels of the reminder credited with the renewal. */
export interface CreditCounts {
  key: string | null;
  leadDays: number;
  channels: 'sms' | 'push' | 'both';
  cycles: number;
}

export interface StatsCounts {
  reminders: ReminderCounts[];
  cycles: CycleCounts[];
  credits: CreditCounts[];
}

const GROUP_KEY: Record<StatsGroupBy, RawBuilder<string>> = {
  category: sql<string>`l.category_code`,
  region: sql<string>`l.region_code::text`,
  month: sql<string>`to_char(r.as_of, 'YYYY-MM')`,
};

/**
 * The counts behind GET /v1/stats, for the whole period and, with `groupBy`, each group.
 *
 * A period selects reminders by scan date; the cycles (licence, expiry date) they belong to
 * are counted whole, so the other reminders of those cycles are read too. Those can only have
 * been made up to 366 days (the longest lead) before the period or after it, which bounds that
 * read by scan date. A cycle's outcome is its reminders' (renewed before expired before open,
 * should they differ: a licence corrected back to a date it had been renewed from), and its
 * credit is the one written when the renewal was recorded (reminders.credited_channels).
 *
 * Cycles are counted apart for the period and for each group: a cycle with reminders in two
 * months counts once in each month and once in the period.
 */
export async function statsCounts(db: Database, filter: ReportFilter, groupBy?: StatsGroupBy): Promise<StatsCounts> {
  const key = groupBy ? GROUP_KEY[groupBy] : sql<string>`null::text`;
  // Without groupBy every key is null: one group, the period.
  const grouping = groupBy ? sql`grouping sets ((), (p.key))` : sql`p.key`;
  const before = filter.from !== undefined ? sql`r.as_of < ${filter.from}::date and r.as_of >= ${filter.from}::date - 366` : sql`false`;
  const after = filter.to !== undefined ? sql`r.as_of > ${filter.to}::date and r.as_of <= ${filter.to}::date + 366` : sql`false`;
  const { rows } = await sql<StatsCounts>`
    with period as materialized (
      select r.id, r.license_id, r.expires_on, r.lead_days, r.outcome, r.credited_channels,
             l.holder_type, l.holder_id_hash, ${key} as key
        from reminders r join licenses l on l.id = r.license_id
       where ${allOf(reminderConditions(filter))}
    ), cycle_keys as materialized (
      select distinct license_id, expires_on from period
    ), cycle_reminders as materialized (
      select id, license_id, expires_on, lead_days, outcome, credited_channels from period
      union all
      select r.id, r.license_id, r.expires_on, r.lead_days, r.outcome, r.credited_channels
        from reminders r join cycle_keys c using (license_id, expires_on)
       where (${before}) or (${after})
    ), reminder_deliveries as materialized (
      select d.reminder_id,
             bool_or(d.status in ('sent', 'delivered')) as reached,
             bool_and(d.status = 'cancelled') as cancelled,
             bool_or(d.status in ('pending', 'queued', 'sending')) as in_progress,
             count(*) filter (where d.channel = 'sms' and d.status in ('pending', 'queued', 'sending')) as sms_pending,
             count(*) filter (where d.channel = 'sms' and d.status = 'sent') as sms_sent,
             count(*) filter (where d.channel = 'sms' and d.status = 'delivered') as sms_delivered,
             count(*) filter (where d.channel = 'sms' and d.status = 'undelivered') as sms_undelivered,
             count(*) filter (where d.channel = 'sms' and d.status = 'failed') as sms_failed,
             count(*) filter (where d.channel = 'sms' and d.status = 'cancelled') as sms_cancelled,
             count(*) filter (where d.channel = 'push' and d.status in ('pending', 'queued', 'sending')) as push_pending,
             count(*) filter (where d.channel = 'push' and d.status = 'sent') as push_sent,
             count(*) filter (where d.channel = 'push' and d.status = 'delivered') as push_delivered,
             count(*) filter (where d.channel = 'push' and d.status = 'undelivered') as push_undelivered,
             count(*) filter (where d.channel = 'push' and d.status = 'failed') as push_failed,
             count(*) filter (where d.channel = 'push' and d.status = 'cancelled') as push_cancelled
        from deliveries d join cycle_reminders c on c.id = d.reminder_id
       group by d.reminder_id
    ), cycles as materialized (
      select c.license_id, c.expires_on,
             coalesce(bool_or(rd.reached), false) as reached,
             case when bool_or(c.outcome = 'renewed') then 'renewed'
                  when bool_or(c.outcome = 'expired') then 'expired' else 'open' end as outcome,
             max(c.lead_days) filter (where c.credited_channels is not null) as credited_lead_days,
             max(c.credited_channels) as credited_channels
        from cycle_reminders c left join reminder_deliveries rd on rd.reminder_id = c.id
       group by c.license_id, c.expires_on
    ), group_cycles as (
      select null::text as key, c.* from cycles c
      ${groupBy ? sql`union all select k.key, c.* from (select distinct key, license_id, expires_on from period) k join cycles c using (license_id, expires_on)` : sql``}
    )
    select
      (select coalesce(json_agg(x), '[]') from (
         select p.key,
                count(*) filter (where rd.reached) as reached,
                count(*) filter (where rd.reminder_id is null) as undeliverable,
                count(*) filter (where not rd.reached and rd.cancelled) as cancelled,
                count(*) filter (where not rd.reached and not rd.cancelled and rd.in_progress) as "inProgress",
                count(*) filter (where not rd.reached and not rd.cancelled and not rd.in_progress) as failed,
                json_build_object(
                  'sms', json_build_object(
                    'pending', coalesce(sum(rd.sms_pending), 0), 'sent', coalesce(sum(rd.sms_sent), 0),
                    'delivered', coalesce(sum(rd.sms_delivered), 0), 'undelivered', coalesce(sum(rd.sms_undelivered), 0),
                    'failed', coalesce(sum(rd.sms_failed), 0), 'cancelled', coalesce(sum(rd.sms_cancelled), 0)),
                  'push', json_build_object(
                    'pending', coalesce(sum(rd.push_pending), 0), 'sent', coalesce(sum(rd.push_sent), 0),
                    'delivered', coalesce(sum(rd.push_delivered), 0), 'undelivered', coalesce(sum(rd.push_undelivered), 0),
                    'failed', coalesce(sum(rd.push_failed), 0), 'cancelled', coalesce(sum(rd.push_cancelled), 0))
                ) as deliveries,
                count(distinct p.holder_id_hash) filter (where rd.reached and p.holder_type = 'enterprise') as "enterprisesReached",
                count(distinct p.holder_id_hash) filter (where rd.reached and p.holder_type = 'individual') as "individualsReached"
           from period p left join reminder_deliveries rd on rd.reminder_id = p.id
          group by ${grouping}) x
      ) as reminders,
      (select coalesce(json_agg(x), '[]') from (
         select key, reached, outcome, count(*) as cycles from group_cycles group by key, reached, outcome) x
      ) as cycles,
      (select coalesce(json_agg(x), '[]') from (
         select key, credited_lead_days as "leadDays", credited_channels as channels, count(*) as cycles
           from group_cycles
          where reached and outcome = 'renewed' and credited_channels is not null
          group by key, credited_lead_days, credited_channels) x
      ) as credits`.execute(db);
  return rows[0]!;
}
