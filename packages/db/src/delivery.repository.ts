import { sql, type RawBuilder } from 'kysely';
import type { Database } from './db';
import { followUpsOpenedByFailure } from './follow-up.repository';
import { UNSENT, type DeliveryStatus } from './statuses';

/** One reminder a message still carries, with what its text needs. */
export interface MessageItem {
  deliveryId: number;
  reminderId: number;
  licenseId: number;
  licenseNo: string;
  holderName: string;
  expiresOn: string;
  daysLeft: number;
  /** false when the licence was renewed, corrected or revoked since the scan */
  stillDue: boolean;
  category: {
    code: string;
    name: string;
    smsTemplate: string;
    pushTitle: string;
    pushBody: string;
    renewalUrl: string;
    consultPhone: string;
    aliyunTemplateCode: string | null;
    aliyunTemplateParams: Record<string, string> | null;
  };
}

/**
 * SQL: the reminders a message carries (`messageId`, an expression), leaving out deliveries
 * cancelled on their own, as a JSON array of MessageItem, in expiry order.
 */
export function messageItemsJson(messageId: RawBuilder<number>) {
  return sql<MessageItem[]>`(
    select coalesce(json_agg(json_build_object(
             'deliveryId', d.id, 'reminderId', r.id, 'licenseId', l.id, 'licenseNo', l.license_no,
             'holderName', l.holder_name, 'expiresOn', r.expires_on, 'daysLeft', r.days_left,
             'stillDue', r.outcome = 'open' and l.status = 'active' and l.expires_on = r.expires_on and c.enabled,
             'category', json_build_object(
               'code', c.code, 'name', c.name, 'smsTemplate', c.sms_template, 'pushTitle', c.push_title,
               'pushBody', c.push_body, 'renewalUrl', c.renewal_url, 'consultPhone', c.consult_phone,
               'aliyunTemplateCode', c.aliyun_template_code, 'aliyunTemplateParams', c.aliyun_template_params))
           order by l.expires_on, d.id), '[]')
      from deliveries d
      join reminders r on r.id = d.reminder_id
      join licenses l on l.id = r.license_id
      join categories c on c.code = l.category_code
     where d.message_id = ${messageId} and d.status <> 'cancelled')`;
}

/**
 * SQL: the ledger's row (delivery_events) for each delivery of `deliveries`, the name of a
 * common table expression with a `delivery_id` column: it went to `status` for `cause`.
 * Every write that moves or makes deliveries records them through this, in the same statement.
 */
export function deliveryEvents(deliveries: string, status: DeliveryStatus, cause: string, detail: RawBuilder<unknown> = sql`null`) {
  return sql`insert into delivery_events (delivery_id, status, cause, detail)
      select delivery_id, ${status}, ${cause}, ${detail}::jsonb from ${sql.table(deliveries)}`;
}

/**
 * SQL, after a common table expression `moved` of messages (a message's state change,
 * message.repository): their deliveries that are not cancelled follow them to `to` (`followed`),
 * each with its ledger row (`logged`); `detail` may use the message's `provider_message_id`.
 * A move to failed or undelivered also opens the follow-ups it causes (`opened`), in the same
 * statement as the failure.
 */
export function deliveriesFollow(to: DeliveryStatus, cause: string, detail?: RawBuilder<unknown>) {
  const opensFollowUps = to === 'failed' || to === 'undelivered';
  return sql`followed as (
      update deliveries d set status = ${to}, updated_at = now()
        from moved m
       where d.message_id = m.id and d.status <> 'cancelled'
      returning d.id as delivery_id, d.reminder_id, m.provider_message_id
    ), logged as (
      ${deliveryEvents('followed', to, cause, detail)}
    )${opensFollowUps ? sql`, ${followUpsOpenedByFailure(sql`followed`)}` : sql``}`;
}

/**
 * Cancels deliveries that were not handed to a provider yet, and the messages left
 * with nothing to carry. `which` picks them by licence (renewed, corrected, revoked)
 * or by delivery id.
 */
export async function cancelUnsentDeliveries(
  db: Database,
  which: { licenseIds: number[]; onlyStaleDates?: boolean } | { deliveryIds: number[] } | { categoryCode: string },
  cause: string,
): Promise<number> {
  const picked =
    'deliveryIds' in which
      ? sql`d.id = any(${which.deliveryIds}::int[])`
      : 'categoryCode' in which
        ? sql`l.category_code = ${which.categoryCode}`
        : which.onlyStaleDates
          ? sql`l.id = any(${which.licenseIds}::int[]) and r.expires_on <> l.expires_on`
          : sql`l.id = any(${which.licenseIds}::int[])`;
  const result = await sql<{ cancelled: number }>`
    with cancelled as (
      update deliveries d set status = 'cancelled', updated_at = now()
        from reminders r join licenses l on l.id = r.license_id
       where d.reminder_id = r.id and d.status = any(${UNSENT}::text[]) and ${picked}
      returning d.id as delivery_id, d.message_id
    ), logged as (
      ${deliveryEvents('cancelled', 'cancelled', cause)}
    ), emptied as (
      update outgoing_messages m set status = 'cancelled', updated_at = now()
       where m.id in (select message_id from cancelled) and m.status = any(${UNSENT}::text[])
         and not exists (
           select 1 from deliveries x
            where x.message_id = m.id and x.status <> 'cancelled' and x.id not in (select delivery_id from cancelled))
    )
    select count(*)::int as cancelled from cancelled`.execute(db);
  return result.rows[0]?.cancelled ?? 0;
}

/**
 * Takes deliveries that are no longer due out of a message being sent, while the claim
 * `lockedBy` holds it: a run whose claim was taken over drops nothing.
 */
export async function dropDeliveries(db: Database, messageId: number, lockedBy: string, deliveryIds: number[], cause: string): Promise<void> {
  await sql`
    with dropped as (
      update deliveries d set status = 'cancelled', updated_at = now()
        from outgoing_messages m
       where d.id = any(${deliveryIds}::int[]) and d.message_id = ${messageId} and d.status = 'sending'
         and m.id = d.message_id and m.status = 'sending' and m.locked_by = ${lockedBy}
      returning d.id as delivery_id
    )
    ${deliveryEvents('dropped', 'cancelled', cause)}`.execute(db);
}
