import { sql } from 'kysely';
import type { Database } from './db';

/** The licences of one category whose expiry date lies in [from, to] are due for `lead`. */
export interface DueWindow {
  categoryCode: string;
  lead: number;
  from: string;
  to: string;
}

export interface CreatedReminders {
  remindersCreated: number;
  undeliverable: number;
  messages: { id: number; channel: 'sms' | 'push' }[];
}

/**
 * One statement: the reminders due in the windows (at most one per licence, expiry
 * date and lead, by the unique key), one delivery per usable channel, and one
 * outgoing message per recipient and channel that carries them all.
 */
export async function createDueReminders(
  trx: Database,
  scanId: number,
  asOf: string,
  windows: DueWindow[],
): Promise<CreatedReminders> {
  const { rows } = await sql<CreatedReminders>`
    with w as (
      select * from unnest(${windows.map((w) => w.categoryCode)}::text[], ${windows.map((w) => w.lead)}::int[],
                           ${windows.map((w) => w.from)}::date[], ${windows.map((w) => w.to)}::date[])
               as w(category_code, lead, from_date, to_date)
    ), created as (
      insert into reminders (license_id, expires_on, lead_days, as_of, days_left, scan_id)
      select l.id, l.expires_on, w.lead, ${asOf}::date, l.expires_on - ${asOf}::date, ${scanId}::int
        from w join licenses l
          on l.category_code = w.category_code and l.status = 'active'
         and l.expires_on between w.from_date and w.to_date
      -- A renewal or revocation being written meanwhile is waited for and re-read, and
      -- one that comes later waits for this scan, so it always sees these reminders.
         for share of l
      on conflict (license_id, expires_on, lead_days) do nothing
      returning id, license_id
    ), targets as (
      select c.id as reminder_id, ch.channel,
             case ch.channel when 'sms' then l.phone else l.platform_user_id end as recipient
        from created c
        join licenses l on l.id = c.license_id
        join categories cat on cat.code = l.category_code
       cross join lateral unnest(cat.channels) as ch(channel)
       where (ch.channel = 'sms' and l.phone is not null)
          or (ch.channel = 'push' and l.platform_user_id is not null)
    ), messages as (
      insert into outgoing_messages (scan_id, channel, recipient)
      select distinct ${scanId}::int, channel, recipient from targets
      returning id, channel, recipient
    ), delivered as (
      insert into deliveries (reminder_id, channel, message_id)
      select t.reminder_id, t.channel, m.id from targets t join messages m using (channel, recipient)
      returning id
    ), logged as (
      insert into delivery_events (delivery_id, status, cause) select id, 'pending', 'scan' from delivered
    )
    select (select count(*)::int from created) as reminders_created,
           (select count(*)::int from created c
             where not exists (select 1 from targets t where t.reminder_id = c.id)) as undeliverable,
           (select coalesce(json_agg(json_build_object('id', id, 'channel', channel) order by id), '[]')
              from messages) as messages`.execute(trx);
  return rows[0]!;
}

/**
 * Open reminders of licences that passed their expiry date without renewal. A reminder
 * of a date later corrected to an earlier one is closed too once its date has passed:
 * the licence's real date passed before it, unrenewed.
 */
export async function expireReminders(trx: Database, asOf: string): Promise<number> {
  const result = await sql`
    update reminders r set outcome = 'expired', outcome_at = now()
      from licenses l
     where r.license_id = l.id and r.outcome = 'open'
       and r.expires_on < ${asOf}::date and l.expires_on <= r.expires_on`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

export async function startScan(db: Database, asOf: string, trigger: 'cron' | 'api' | 'command'): Promise<number> {
  const row = await db.insertInto('scans').values({ asOf, trigger }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function finishScan(
  db: Database,
  id: number,
  counts: { remindersCreated: number; messagesQueued: number; undeliverable: number },
) {
  return db
    .updateTable('scans')
    .set({ ...counts, status: 'succeeded', finishedAt: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Scans still 'running' whose process stopped (killed, or cut off from the database) before
 * recording how they ended. Called by a scan holding the scan lock: no other scan can be
 * running then, so every such row is one that will never finish.
 */
export async function abandonInterruptedScans(db: Database): Promise<number[]> {
  const rows = await db
    .updateTable('scans')
    .set({ status: 'failed', error: 'interrupted: the scan stopped before it finished (its process ended or lost the database)', finishedAt: new Date() })
    .where('status', '=', 'running')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Whether a scan for this date has succeeded. */
export async function scanSucceededFor(db: Database, asOf: string): Promise<boolean> {
  const row = await db.selectFrom('scans').select('id').where('asOf', '=', asOf).where('status', '=', 'succeeded').limit(1).executeTakeFirst();
  return row !== undefined;
}

export async function failScan(db: Database, id: number, error: string) {
  await db.updateTable('scans').set({ status: 'failed', error, finishedAt: new Date() }).where('id', '=', id).execute();
}

export function listScans(db: Database, page: { after?: number; limit: number }) {
  return db
    .selectFrom('scans')
    .selectAll()
    .$if(page.after !== undefined, (q) => q.where('id', '<', page.after!))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
}
