import { maskText, type DueWindow } from '@lr/domain';
import { sql } from 'kysely';
import { daysLeft } from './days-left';
import type { Database } from './db';
import { deliveryEvents } from './delivery.repository';

export type ReminderStatus = 'scheduled' | 'sent' | 'failed' | 'undeliverable' | 'cancelled';

export interface ReminderView {
  id: number;
  licenseId: number;
  categoryCode: string;
  licenseNo: string;
  expiresOn: string;
  leadDays: number;
  asOf: string;
  status: ReminderStatus;
  outcome: 'open' | 'renewed' | 'expired';
  deliveries: {
    channel: 'sms' | 'push';
    status: string;
    attempts: number;
    providerMessageId: string | null;
    errorCode: string | null;
    errorMessage: string | null;
    sentAt: string | null;
    deliveredAt: string | null;
  }[];
}

export interface ReminderFilter {
  licenseId?: number;
  licenseNo?: string;
  categoryCode?: string;
  status?: ReminderStatus;
  outcome?: string;
  afterId?: number;
  limit: number;
}

/**
 * A reminder's status follows from its deliveries: none at all is 'undeliverable'
 * (no usable channel), all cancelled is 'cancelled', any sent or delivered is 'sent',
 * all failed is 'failed', anything still on its way is 'scheduled'.
 */
const STATUS = sql<ReminderStatus>`case
  when count(d.id) = 0 then 'undeliverable'
  when bool_and(d.status = 'cancelled') then 'cancelled'
  when bool_or(d.status in ('sent', 'delivered')) then 'sent'
  when bool_and(d.status in ('failed', 'undelivered', 'cancelled')) then 'failed'
  else 'scheduled' end`;

export async function listReminders(db: Database, filter: ReminderFilter): Promise<ReminderView[]> {
  const where = [
    filter.licenseId !== undefined ? sql`l.id = ${filter.licenseId}` : undefined,
    filter.licenseNo !== undefined ? sql`l.license_no = ${filter.licenseNo}` : undefined,
    filter.categoryCode !== undefined ? sql`l.category_code = ${filter.categoryCode}` : undefined,
    filter.outcome !== undefined ? sql`r.outcome = ${filter.outcome}` : undefined,
    filter.afterId !== undefined ? sql`r.id > ${filter.afterId}` : undefined,
  ].filter((w) => w !== undefined);
  const { rows } = await sql<ReminderView>`
    select * from (
      select r.id, r.license_id, l.category_code, l.license_no, r.expires_on, r.lead_days, r.as_of, r.outcome,
             ${STATUS} as status,
             coalesce(json_agg(json_build_object(
               'channel', d.channel, 'status', d.status, 'attempts', m.attempts,
               'providerMessageId', m.provider_message_id, 'errorCode', m.error_code, 'errorMessage', m.error_message,
               'sentAt', m.sent_at, 'deliveredAt', m.delivered_at) order by d.channel)
               filter (where d.id is not null), '[]') as deliveries
        from reminders r
        join licenses l on l.id = r.license_id
        left join deliveries d on d.reminder_id = r.id
        left join outgoing_messages m on m.id = d.message_id
       where ${where.length ? sql.join(where, sql` and `) : sql`true`}
       group by r.id, l.id
    ) x
    ${filter.status !== undefined ? sql`where x.status = ${filter.status}` : sql``}
    order by x.id
    limit ${filter.limit}`.execute(db);
  // A provider's error may name the phone (Twilio: "The 'To' phone number: +86…").
  for (const row of rows) {
    for (const delivery of row.deliveries) if (delivery.errorMessage !== null) delivery.errorMessage = maskText(delivery.errorMessage);
  }
  return rows;
}

export interface CreatedReminders {
  remindersCreated: number;
  /** licences of the windows that already had that window's reminder */
  skipped: number;
  undeliverable: number;
  messages: { id: number; channel: 'sms' | 'push' }[];
}

const minDate = (dates: string[]) => dates.reduce((a, b) => (b < a ? b : a));
const maxDate = (dates: string[]) => dates.reduce((a, b) => (b > a ? b : a));

/** The (reminder, channel, recipient) of each usable channel of the reminders a scan created. */
function targetsOf(scanId: number) {
  return sql`
    select r.id as reminder_id, ch.channel,
           case ch.channel when 'sms' then l.phone else l.platform_user_id end as recipient
      from reminders r
      join licenses l on l.id = r.license_id
      join categories cat on cat.code = l.category_code
     cross join lateral unnest(cat.channels) as ch(channel)
     where r.scan_id = ${scanId}
       and ((ch.channel = 'sms' and l.phone is not null) or (ch.channel = 'push' and l.platform_user_id is not null))`;
}

/**
 * The reminders due in the windows (at most one per licence, expiry date and lead, by the
 * unique key), one delivery per usable channel, and one outgoing message per recipient
 * and channel that carries them all. Run inside the scan's transaction.
 *
 * Separate statements rather than one with data-modifying CTEs: PostgreSQL cannot see
 * how many rows a CTE's INSERT returns, so joining two of them (deliveries to their
 * messages) was planned as a nested loop, quadratic in the reminders: 65 s for 20,000.
 * Each statement here reads what the one before wrote, by index.
 */
export async function createDueReminders(
  trx: Database,
  scanId: number,
  asOf: string,
  windows: DueWindow[],
): Promise<CreatedReminders> {
  if (windows.length === 0) return { remindersCreated: 0, skipped: 0, undeliverable: 0, messages: [] };
  const windowRows = sql`
    unnest(${windows.map((w) => w.categoryCode)}::text[], ${windows.map((w) => w.lead)}::int[],
           ${windows.map((w) => w.from)}::date[], ${windows.map((w) => w.to)}::date[]) as w(category_code, lead, from_date, to_date)`;
  // Of the licences in the windows (about 60 days of expiries), only those that entered a
  // window since the last scan lack its reminder: a few hundredths of them on a normal day.
  // They are found from two indexes alone (the licences' by expiry, with their id, and the
  // open reminders' by date) and only they are then read, locked and written. Reading and
  // locking every licence of the windows took 14 s a day at 10,000,000 licences.
  const { rows: counted } = await sql<{ inWindow: number; created: number }>`
    with in_window as materialized (
      select c.id, c.expires_on, c.lead
        from ${windowRows}
       cross join lateral (
         -- offset 0 keeps this a scan of the index per window, with the window's bounds
         select l.id, l.expires_on, w.lead from licenses l
          where l.category_code = w.category_code and l.status = 'active'
            and l.expires_on between w.from_date and w.to_date
         offset 0) c
    ), reminded as materialized (
      select r.license_id, r.expires_on, r.lead_days from reminders r
       where r.outcome = 'open' and r.expires_on between ${minDate(windows.map((w) => w.from))}::date and ${maxDate(windows.map((w) => w.to))}::date
    ), due as materialized (
      select i.id, i.expires_on, i.lead from in_window i
       where not exists (select 1 from reminded r where (r.license_id, r.expires_on, r.lead_days) = (i.id, i.expires_on, i.lead))
    ), inserted as (
      insert into reminders (license_id, expires_on, lead_days, as_of, days_left, scan_id)
      select l.id, l.expires_on, d.lead, ${asOf}::date, ${daysLeft(sql.ref('l.expires_on'), asOf)}, ${scanId}::int
        from due d join licenses l on l.id = d.id
       where l.status = 'active' and l.expires_on = d.expires_on
      -- A renewal or revocation being written meanwhile is waited for and the licence re-read
      -- (a renewed one no longer matches its old date), and one that comes later waits for
      -- this scan, so it always sees these reminders.
         for share of l
      -- A reminder that is no longer open (its licence was renewed, then corrected back to the
      -- old date) is not in 'reminded'; the unique key still makes it once ever.
      on conflict (license_id, expires_on, lead_days) do nothing
      returning 1
    )
    select (select count(*)::int from in_window) as in_window, (select count(*)::int from inserted) as created`.execute(trx);
  const remindersCreated = counted[0]!.created;
  const skipped = counted[0]!.inWindow - remindersCreated;
  if (remindersCreated === 0) return { remindersCreated: 0, skipped, undeliverable: 0, messages: [] };

  const { rows: messages } = await sql<{ id: number; channel: 'sms' | 'push' }>`
    insert into outgoing_messages (scan_id, channel, recipient)
    select distinct ${scanId}::int, channel, recipient from (${targetsOf(scanId)}) t
    returning id, channel`.execute(trx);
  await sql`
    with delivered as (
      insert into deliveries (reminder_id, channel, message_id)
      -- A look-up per delivery in the message key's index, whatever the planner
      -- believes of tables that this transaction has just filled.
      select t.reminder_id, t.channel,
             (select m.id from outgoing_messages m where (m.scan_id, m.channel, m.recipient) = (${scanId}, t.channel, t.recipient))
        from (${targetsOf(scanId)}) t
      returning id as delivery_id
    )
    ${deliveryEvents('delivered', 'pending', 'scan')}`.execute(trx);
  const { rows } = await sql<{ undeliverable: number }>`
    select count(*)::int as undeliverable
      from reminders r
     where r.scan_id = ${scanId} and not exists (select 1 from deliveries d where d.reminder_id = r.id)`.execute(trx);
  messages.sort((a, b) => a.id - b.id);
  return { remindersCreated, skipped, undeliverable: rows[0]!.undeliverable, messages };
}

/** How many reminders a scan created, by lead (read inside a dry run's transaction, before it is rolled back). */
export async function scanRemindersByLead(trx: Database, scanId: number): Promise<{ leadDays: number; reminders: number }[]> {
  const { rows } = await sql<{ leadDays: number; reminders: number }>`
    select lead_days, count(*)::int as reminders from reminders where scan_id = ${scanId} group by lead_days order by lead_days desc`.execute(trx);
  return rows;
}

/**
 * Open reminders of licences that passed their expiry date without renewal. A reminder
 * of a date later corrected to an earlier one is closed too once its date has passed:
 * the licence's real date passed before it, unrenewed.
 */
export async function expireReminders(trx: Database, asOf: string): Promise<{ reminders: number; cycles: number }> {
  const { rows } = await sql<{ reminders: number; cycles: number }>`
    with expired as (
      update reminders r set outcome = 'expired', outcome_at = now()
        from licenses l
       where r.license_id = l.id and r.outcome = 'open'
         and r.expires_on < ${asOf}::date and l.expires_on <= r.expires_on
      returning r.license_id, r.expires_on
    )
    select count(*)::int as reminders, count(distinct (license_id, expires_on))::int as cycles from expired`.execute(trx);
  return rows[0]!;
}
