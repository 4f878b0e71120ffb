import { sql, type RawBuilder } from 'kysely';
import type { Writable } from 'node:stream';
import { copyCsv, ISO_INSTANT, type CsvCopySettings } from './csv-copy';
import type { Database } from './db';
import { daysLeft } from './days-left';
import { maskedHolderName, maskedPhone } from './masking';
import { allOf, licenseConditions, type ReportFilter } from './report-filter';

/**
 * Follow-ups (docs/rules.md, "Follow-up"): at most one per cycle, opened by whichever process
 * notices its cause first (a worker or a receipt moving a delivery to failed, a scan, the
 * sweep); the unique key (license_id, expires_on) makes the others find it there.
 */
export type FollowUpReason = 'unreached' | 'not_renewed';
export type FollowUpResolution = 'renewed' | 'expired' | 'revoked' | 'handled';

/** How long after a delivery failed the sweep still looks at it, for a follow-up its mover missed. */
const SWEEP_LOOKBACK = sql`interval '1 day'`;

/**
 * SQL: opens `unreached` follow-ups for the cycles of the reminders `candidates` selects
 * (reminder ids), where the reminder ended without reaching its holder (no delivery, or every
 * delivery failed or undelivered) and nothing of its cycle reached them, the cycle being the
 * licence's current one, open, of an active licence. `failing` are delivery ids that the same
 * statement moves to failed or undelivered: its snapshot still shows their old status.
 *
 * The licence is locked (for share) while the follow-up is written: a renewal or revocation
 * under way is waited for and its licence read again (a renewed cycle gets no follow-up), and
 * one that comes after waits for this one and then closes what it wrote. In licence order,
 * as every opener writes, so that two openers cannot wait for each other.
 */
function openUnreached(candidates: RawBuilder<unknown>, failing: RawBuilder<unknown>) {
  return sql`
    insert into follow_ups (license_id, expires_on, reason)
    select l.id, l.expires_on, 'unreached'
      from licenses l
     where l.status = 'active'
       and exists (
             select 1 from reminders r
              where r.id in (${candidates}) and r.license_id = l.id and r.expires_on = l.expires_on and r.outcome = 'open'
                and not exists (select 1 from deliveries d
                                 where d.reminder_id = r.id and d.status not in ('failed', 'undelivered') and d.id <> all(${failing})))
       and not exists (select 1 from reminders c join deliveries d on d.reminder_id = c.id
                        where c.license_id = l.id and c.expires_on = l.expires_on
                          and d.status in ('sent', 'delivered') and d.id <> all(${failing}))
       and not exists (select 1 from follow_ups f where f.license_id = l.id and f.expires_on = l.expires_on)
     order by l.id
       for share of l
    on conflict (license_id, expires_on) do nothing`;
}

/**
 * SQL, a common table expression `opened` for a move of deliveries (message.repository's
 * moves) to failed or undelivered: `followed` holds the moved deliveries (delivery_id,
 * reminder_id). The follow-up is written by the very statement that records the failure.
 */
export function followUpsOpenedByFailure(followed: RawBuilder<unknown>) {
  return sql`opened as (${openUnreached(
    sql`select reminder_id from ${followed}`,
    sql`array(select delivery_id from ${followed})`,
  )})`;
}

/** `unreached` follow-ups for a scan's reminders that had no usable channel: in the scan's transaction. */
export async function openFollowUpsForUndeliverable(trx: Database, scanId: number): Promise<number> {
  const result = await openUnreached(
    sql`select r.id from reminders r where r.scan_id = ${scanId} and not exists (select 1 from deliveries d where d.reminder_id = r.id)`,
    sql`'{}'::int[]`,
  ).execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * `not_renewed` follow-ups: reached cycles still open whose expiry date is `followUpDays` days
 * after `asOf` or fewer (and not past), of active licences. Unlocked: the scan writes
 * thousands, and a renewal racing one is closed by the next sweep (sweepFollowUps).
 */
export async function openNotRenewedFollowUps(db: Database, asOf: string, followUpDays: number): Promise<number> {
  const result = await sql`
    insert into follow_ups (license_id, expires_on, reason)
    select l.id, l.expires_on, 'not_renewed'
      from licenses l
     where l.status = 'active' and l.expires_on between ${asOf}::date and ${asOf}::date + ${followUpDays}::int
       and exists (select 1 from reminders r join deliveries d on d.reminder_id = r.id
                    where r.license_id = l.id and r.expires_on = l.expires_on and r.outcome = 'open'
                      and d.status in ('sent', 'delivered'))
       and not exists (select 1 from follow_ups f where f.license_id = l.id and f.expires_on = l.expires_on)
     order by l.id
    on conflict (license_id, expires_on) do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Closes the open follow-ups whose cycle ended: `renewed` or `expired` as its reminders
 * ended, else `revoked` when the licence was revoked. Of the licences given, or of all.
 */
export async function closeEndedFollowUps(db: Database, licenseIds?: number[]): Promise<number> {
  const result = await sql`
    with ended as (
      select f.id,
             case when bool_or(r.outcome = 'renewed') then 'renewed'
                  when bool_or(r.outcome = 'expired') then 'expired'
                  when bool_or(l.status = 'revoked') then 'revoked' end as resolution
        from follow_ups f
        join licenses l on l.id = f.license_id
        left join reminders r on r.license_id = f.license_id and r.expires_on = f.expires_on
       where f.status = 'open' ${licenseIds ? sql`and f.license_id = any(${licenseIds}::int[])` : sql``}
       group by f.id
    )
    update follow_ups f set status = 'closed', resolution = ended.resolution, closed_at = now()
      from ended
     where f.id = ended.id and ended.resolution is not null and f.status = 'open'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * The sweep's part (every SWEEP_INTERVAL_SECONDS): opens what a mover missed (the two
 * channels of a reminder failing at the same moment, each seeing the other still under way)
 * from the day's failed deliveries, the `not_renewed` of `today`, and closes what a renewal
 * racing an opening left open.
 */
export async function sweepFollowUps(db: Database, today: string, followUpDays: number): Promise<{ opened: number; closed: number }> {
  const unreached = await openUnreached(
    sql`select d.reminder_id from delivery_events e join deliveries d on d.id = e.delivery_id
         where e.status in ('failed', 'undelivered') and e.created_at > now() - ${SWEEP_LOOKBACK}`,
    sql`'{}'::int[]`,
  ).execute(db);
  const notRenewed = await openNotRenewedFollowUps(db, today, followUpDays);
  const closed = await closeEndedFollowUps(db);
  return { opened: Number(unreached.numAffectedRows ?? 0) + notRenewed, closed };
}

export type FollowUpActionKind = 'call' | 'visit' | 'message';
export type FollowUpActionResult = 'reached' | 'unreachable' | 'will_renew' | 'declined' | 'other';

export interface FollowUpAction {
  kind: FollowUpActionKind;
  result: FollowUpActionResult;
  note: string | null;
  /** the name of the API key that recorded it */
  by: string;
  at: Date;
}

/** A follow-up as staff see it: the licence's phone masked, days left counted from `today`. */
export interface FollowUpView {
  id: number;
  reason: FollowUpReason;
  status: 'open' | 'closed';
  resolution: FollowUpResolution | null;
  licenseId: number;
  categoryCode: string;
  licenseNo: string;
  holderName: string;
  holderType: 'enterprise' | 'individual';
  phone: string | null;
  regionCode: string;
  expiresOn: string;
  daysLeft: number;
  openedAt: Date;
  closedAt: Date | null;
  actions: FollowUpAction[];
}

export interface FollowUpFilter extends Pick<ReportFilter, 'categoryCode' | 'regionCode'> {
  status?: 'open' | 'closed';
  reason?: FollowUpReason;
}

/** The list's order, most urgent first: by expiry date, then id. */
export interface FollowUpCursor {
  expiresOn: string;
  id: number;
}

function followUpConditions(filter: FollowUpFilter): RawBuilder<unknown>[] {
  return [
    filter.status !== undefined ? sql`f.status = ${filter.status}` : undefined,
    filter.reason !== undefined ? sql`f.reason = ${filter.reason}` : undefined,
    ...licenseConditions(filter),
  ].filter((c) => c !== undefined);
}

/** The columns of FollowUpView, of follow-ups `f` joined to their licences `l`. */
function followUpColumns(today: string) {
  return sql`
    f.id, f.reason, f.status, f.resolution, f.license_id as "licenseId", l.category_code as "categoryCode",
    l.license_no as "licenseNo", l.holder_name as "holderName", l.holder_type as "holderType",
    ${maskedPhone(sql.ref('l.phone'))} as phone, l.region_code as "regionCode", f.expires_on as "expiresOn",
    ${daysLeft(sql.ref('f.expires_on'), today)} as "daysLeft", f.opened_at as "openedAt", f.closed_at as "closedAt",
    coalesce((select json_agg(json_build_object('kind', a.kind, 'result', a.result, 'note', a.note, 'by', a.actor, 'at', a.created_at) order by a.id)
                from follow_up_actions a where a.follow_up_id = f.id), '[]') as actions`;
}

/** JSON turns the actions' times into strings: they are made Dates again, as the other columns come. */
function withActionDates(row: FollowUpView): FollowUpView {
  return { ...row, actions: row.actions.map((a) => ({ ...a, at: new Date(a.at) })) };
}

/** Follow-ups of the filter, most urgent first, after `after`; `limit` of them. */
export async function listFollowUps(db: Database, filter: FollowUpFilter, today: string, page: { after?: FollowUpCursor; limit: number }): Promise<FollowUpView[]> {
  const after = page.after ? sql`(f.expires_on, f.id) > (${page.after.expiresOn}::date, ${page.after.id})` : undefined;
  const { rows } = await sql<FollowUpView>`
    select ${followUpColumns(today)}
      from follow_ups f join licenses l on l.id = f.license_id
     where ${allOf([...followUpConditions(filter), ...(after ? [after] : [])])}
     order by f.expires_on, f.id
     limit ${page.limit}`.execute(db);
  return rows.map(withActionDates);
}

export async function findFollowUp(db: Database, id: number, today: string): Promise<FollowUpView | undefined> {
  const { rows } = await sql<FollowUpView>`
    select ${followUpColumns(today)} from follow_ups f join licenses l on l.id = f.license_id where f.id = ${id}`.execute(db);
  return rows[0] && withActionDates(rows[0]);
}

export interface NewFollowUpAction {
  kind: FollowUpActionKind;
  result: FollowUpActionResult;
  note?: string;
  /** closes the follow-up as `handled` */
  close?: boolean;
  apiKeyId: number | null;
  actor: string;
}

/**
 * Records what staff did on an open follow-up, and closes it as `handled` when asked: the
 * follow-up is locked, so an action cannot land on one that a renewal is closing. Answers
 * what happened: `missing`, `closed` (it was closed already), or `recorded`.
 */
export async function recordFollowUpAction(trx: Database, followUpId: number, action: NewFollowUpAction): Promise<'missing' | 'closed' | 'recorded'> {
  const { rows } = await sql<{ status: string }>`select status from follow_ups where id = ${followUpId} for update`.execute(trx);
  if (rows.length === 0) return 'missing';
  if (rows[0]!.status !== 'open') return 'closed';
  await sql`
    insert into follow_up_actions (follow_up_id, kind, result, note, api_key_id, actor)
    values (${followUpId}, ${action.kind}, ${action.result}, ${action.note ?? null}, ${action.apiKeyId}, ${action.actor})`.execute(trx);
  if (action.close) {
    await sql`update follow_ups set status = 'closed', resolution = 'handled', closed_at = now() where id = ${followUpId} and status = 'open'`.execute(trx);
  }
  return 'recorded';
}

/**
 * The follow-ups of the filter as CSV rows (copyCsv), most urgent first, personal data masked
 * as in the ledger: the columns of @lr/reporting's FOLLOW_UP_COLUMNS.
 */
export function followUpCsvQuery(filter: FollowUpFilter, today: string): RawBuilder<unknown> {
  return sql`
    select f.id, f.reason, f.status, f.resolution, f.license_id, l.category_code, l.license_no,
           ${maskedHolderName(sql.ref('l.holder_name'), sql.ref('l.holder_type'))}, l.holder_type, l.holder_id_masked,
           ${maskedPhone(sql.ref('l.phone'))}, l.region_code, f.expires_on, ${daysLeft(sql.ref('f.expires_on'), today)},
           to_char(f.opened_at, ${sql.lit(ISO_INSTANT)}), to_char(f.closed_at, ${sql.lit(ISO_INSTANT)}),
           (select count(*) from follow_up_actions a where a.follow_up_id = f.id),
           (select a.kind || ': ' || a.result from follow_up_actions a where a.follow_up_id = f.id order by a.id desc limit 1)
      from follow_ups f join licenses l on l.id = f.license_id
     where ${allOf(followUpConditions(filter))}
     order by f.expires_on, f.id`;
}

export function copyFollowUps(db: Database, filter: FollowUpFilter, today: string, to: Writable, settings: CsvCopySettings): Promise<boolean> {
  return copyCsv(db, followUpCsvQuery(filter, today), to, settings);
}

/** Open follow-ups by reason: a gauge for /metrics, cheap (the open ones have an index of their own). */
export async function openFollowUpCounts(db: Database): Promise<Record<FollowUpReason, number>> {
  const { rows } = await sql<{ reason: FollowUpReason; open: number }>`
    select reason, count(*)::int as open from follow_ups where status = 'open' group by reason`.execute(db);
  const counts: Record<FollowUpReason, number> = { unreached: 0, not_renewed: 0 };
  for (const row of rows) counts[row.reason] = row.open;
  return counts;
}
