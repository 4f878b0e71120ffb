import { MAX_LEAD_DAYS } from '@lr/domain';
import { sql, type RawBuilder } from 'kysely';
import type { Database } from './db';
import { allOf, reminderConditions, type ReportFilter } from './report-filter';

/** Where a delivery stands, in the figures. */
export type DeliveryBucket = 'pending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'cancelled';

/** What the figures of a period may be split by: the licence's category or region, or the reminder's month. */
export type StatsGroupBy = 'category' | 'region' | 'month';

/**
 * The counts of one group's reminders and their deliveries (`key` null: the whole period,
 * given only without groupBy: a reminder is in one group, so the period's are their sums).
 */
export interface ReminderCounts {
  key: string | null;
  reached: number;
  undeliverable: number;
  failed: number;
  inProgress: number;
  cancelled: number;
  /** deliveries by channel and status, `pending` being pending, queued and sending */
  deliveries: Record<'sms' | 'push', Record<DeliveryBucket, number>>;
}

/** Distinct holders (by id number) that reminders of a group reached, of one type. */
export interface HolderCounts {
  key: string | null;
  holderType: 'enterprise' | 'individual';
  holders: number;
}

/**
 * The cycles a group's reminders belong to, counted whole: by whether they were reached, how
 * they ended, and, for a renewed one, the lead days and channels of the reminder credited.
 */
export interface CycleCounts {
  key: string | null;
  reached: boolean;
  outcome: 'renewed' | 'expired' | 'open';
  creditedLeadDays: number | null;
  creditedChannels: 'sms' | 'push' | 'both' | null;
  /** the holder opened a renewal link of the cycle: of a message that carries a delivery of one of its reminders */
  opened: boolean;
  cycles: number;
}

export interface StatsCounts {
  reminders: ReminderCounts[];
  holders: HolderCounts[];
  cycles: CycleCounts[];
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
 * been made up to MAX_LEAD_DAYS (366, the longest lead) before the period or after it, which bounds that
 * read by scan date. A cycle's outcome is its reminders' (renewed before expired before open,
 * should they differ: a licence corrected back to a date it had been renewed from), and its
 * credit is the one written when the renewal was recorded (reminders.credited_channels). A
 * cycle was opened when a link opening (link_openings) is of a message that carries (not
 * cancelled) a delivery of one of its reminders.
 *
 * Cycles are counted apart for the period and for each group: a cycle with reminders in two
 * months counts once in each month and once in the period.
 */
export async function statsCounts(db: Database, filter: ReportFilter, groupBy?: StatsGroupBy): Promise<StatsCounts> {
  const key = groupBy ? GROUP_KEY[groupBy] : sql<string>`null::text`;
  const before = filter.from !== undefined ? sql`r.as_of < ${filter.from}::date and r.as_of >= ${filter.from}::date - ${MAX_LEAD_DAYS}::int` : sql`false`;
  const after = filter.to !== undefined ? sql`r.as_of > ${filter.to}::date and r.as_of <= ${filter.to}::date + ${MAX_LEAD_DAYS}::int` : sql`false`;
  return db.transaction().execute(async (trx) => {
    // A year of a county's reminders is a million rows to hash a few times: in memory, and
    // without compiling the statement (JIT takes longer than the statement saves).
    await sql`set local work_mem = '256MB'`.execute(trx);
    await sql`set local jit = off`.execute(trx);
    const { rows } = await sql<StatsCounts>`
      with period as materialized (
        -- The period's reminders, each with the status of its delivery on each channel (one at most).
        select r.license_id, r.expires_on, r.lead_days, r.outcome, r.credited_channels,
               l.holder_type, l.holder_id_hash, ${key} as key, s.status as sms, p.status as push,
               coalesce(s.status in ('sent', 'delivered') or p.status in ('sent', 'delivered'), false) as reached,
               -- The deliveries' messages are at hand: looked up among the openings (by index, or by
               -- hash when there are many, as the planner finds cheaper).
               coalesce((s.status <> 'cancelled' and exists (select 1 from link_openings o where o.message_id = s.message_id))
                        or (p.status <> 'cancelled' and exists (select 1 from link_openings o where o.message_id = p.message_id)), false) as opened
          from reminders r
          join licenses l on l.id = r.license_id
          left join deliveries s on s.reminder_id = r.id and s.channel = 'sms'
          left join deliveries p on p.reminder_id = r.id and p.channel = 'push'
         where ${allOf(reminderConditions(filter))}
      ), outside as (
        -- The other reminders of the period's cycles: made at most a year before or after it.
        select r.license_id, r.expires_on, r.lead_days, r.outcome, r.credited_channels,
               exists (select 1 from deliveries d where d.reminder_id = r.id and d.status in ('sent', 'delivered')) as reached,
               exists (select 1 from deliveries d join link_openings o on o.message_id = d.message_id
                        where d.reminder_id = r.id and d.status <> 'cancelled') as opened
          from reminders r
         where ((${before}) or (${after}))
           and exists (select 1 from period c where (c.license_id, c.expires_on) = (r.license_id, r.expires_on))
      ), cycles as materialized (
        -- A credited cycle was reached when it was renewed: a receipt that came later and said
        -- undelivered does not take that back.
        select license_id, expires_on, bool_or(reached) or bool_or(credited_channels is not null) as reached,
               case when bool_or(outcome = 'renewed') then 'renewed'
                    when bool_or(outcome = 'expired') then 'expired' else 'open' end as outcome,
               -- The credit is one reminder's lead and channels, taken as one pair: the last credited
               -- (the shortest lead), should a corrected cycle have been renewed twice. An ordered
               -- aggregate would cost a sort of every reminder; min over [lead, channels] does not.
               min(array[lead_days, array_position(array['sms', 'push', 'both'], credited_channels)])
                 filter (where credited_channels is not null) as credit,
               -- A licence's category and region are its cycle's: one key (a month can hold one or several).
               max(key) as key,
               bool_or(opened) as opened
          from (select license_id, expires_on, lead_days, outcome, credited_channels, reached, key, opened from period
                union all
                select license_id, expires_on, lead_days, outcome, credited_channels, reached, null, opened from outside) x
         group by license_id, expires_on
      ), group_cycles as (
        select null::text as key, reached, outcome, credit, opened from cycles
        ${groupBy && groupBy !== 'month' ? sql`union all select key, reached, outcome, credit, opened from cycles` : sql``}
        -- A cycle counts once in each month that holds a reminder of it.
        ${groupBy === 'month' ? sql`union all select k.key, reached, outcome, credit, opened from (select distinct key, license_id, expires_on from period) k join cycles c using (license_id, expires_on)` : sql``}
      ), holders as (
        -- Distinct holders reached, in the period and in each group.
        select null::text as key, holder_type from (select distinct holder_type, holder_id_hash from period where reached) h
        ${groupBy ? sql`union all select key, holder_type from (select distinct key, holder_type, holder_id_hash from period where reached) h` : sql``}
      )
      select
        (select coalesce(json_agg(x), '[]') from (
           select key,
                  count(*) filter (where reached) as reached,
                  count(*) filter (where sms is null and push is null) as undeliverable,
                  count(*) filter (where not reached and coalesce(sms, 'cancelled') = 'cancelled' and coalesce(push, 'cancelled') = 'cancelled'
                                   and (sms is not null or push is not null)) as cancelled,
                  count(*) filter (where not reached and (sms in ('pending', 'queued', 'sending') or push in ('pending', 'queued', 'sending'))
                                   and not (coalesce(sms, 'cancelled') = 'cancelled' and coalesce(push, 'cancelled') = 'cancelled')) as "inProgress",
                  count(*) filter (where not reached and coalesce(sms, 'x') not in ('pending', 'queued', 'sending') and coalesce(push, 'x') not in ('pending', 'queued', 'sending')
                                   and not (coalesce(sms, 'cancelled') = 'cancelled' and coalesce(push, 'cancelled') = 'cancelled')) as failed,
                  json_build_object(
                    'sms', json_build_object(
                      'pending', count(*) filter (where sms in ('pending', 'queued', 'sending')), 'sent', count(*) filter (where sms = 'sent'),
                      'delivered', count(*) filter (where sms = 'delivered'), 'undelivered', count(*) filter (where sms = 'undelivered'),
                      'failed', count(*) filter (where sms = 'failed'), 'cancelled', count(*) filter (where sms = 'cancelled')),
                    'push', json_build_object(
                      'pending', count(*) filter (where push in ('pending', 'queued', 'sending')), 'sent', count(*) filter (where push = 'sent'),
                      'delivered', count(*) filter (where push = 'delivered'), 'undelivered', count(*) filter (where push = 'undelivered'),
                      'failed', count(*) filter (where push = 'failed'), 'cancelled', count(*) filter (where push = 'cancelled'))
                  ) as deliveries
             from period
            group by key) x
        ) as reminders,
        (select coalesce(json_agg(x), '[]') from (
           select key, holder_type as "holderType", count(*) as holders from holders group by key, holder_type) x
        ) as holders,
        (select coalesce(json_agg(x), '[]') from (
           select key, reached, outcome, credit[1] as "creditedLeadDays", (array['sms', 'push', 'both'])[credit[2]] as "creditedChannels",
                  opened, count(*) as cycles
             from group_cycles
            group by key, reached, outcome, credit, opened) x
        ) as cycles`.execute(trx);
    return rows[0]!;
  });
}
