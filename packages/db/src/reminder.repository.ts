import { maskText } from '@lr/domain';
import { sql } from 'kysely';
import type { Database } from './db';

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
