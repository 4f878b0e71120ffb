import { sql, type RawBuilder } from 'kysely';
import type { Database } from './db';
import { UNSENT } from './statuses';

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
      returning d.id, d.message_id
    ), logged as (
      insert into delivery_events (delivery_id, status, cause) select id, 'cancelled', ${cause} from cancelled
    ), emptied as (
      update outgoing_messages m set status = 'cancelled', updated_at = now()
       where m.id in (select message_id from cancelled) and m.status = any(${UNSENT}::text[])
         and not exists (
           select 1 from deliveries x
            where x.message_id = m.id and x.status <> 'cancelled' and x.id not in (select id from cancelled))
    )
    select count(*)::int as cancelled from cancelled`.execute(db);
  return result.rows[0]?.cancelled ?? 0;
}

/** Takes deliveries that are no longer due out of a message the caller has claimed. */
export async function dropDeliveries(db: Database, messageId: number, deliveryIds: number[], cause: string): Promise<void> {
  await sql`
    with dropped as (
      update deliveries set status = 'cancelled', updated_at = now()
       where id = any(${deliveryIds}::int[]) and message_id = ${messageId} and status <> 'cancelled'
      returning id
    )
    insert into delivery_events (delivery_id, status, cause) select id, 'cancelled', ${cause} from dropped`.execute(db);
}
