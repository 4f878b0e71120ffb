import { sql, type RawBuilder } from 'kysely';
import type { Writable } from 'node:stream';
import { copyCsv, ISO_INSTANT, type CsvCopySettings } from './csv-copy';
import type { Database } from './db';
import { maskedHolderName, maskedPhone } from './masking';
import { allOf, reminderConditions, type ReportFilter } from './report-filter';


/**
 * The work ledger (工作台账): one row per delivery of each reminder of the filter, and one
 * for a reminder without deliveries (no channel, status `undeliverable`); a delivery's
 * attempts, times and error are its message's, its status its own. Personal data masked in
 * SQL; timestamps in the session's time zone (copyCsv sets it), empty when null. Columns in
 * the order of @lr/reporting's LEDGER_COLUMNS (the aliases name them); ordered by scan date,
 * reminder, channel.
 */
export function ledgerQuery(filter: ReportFilter): RawBuilder<unknown> {
  return sql`
    select r.as_of as "asOf", l.category_code as "categoryCode", c.name as "categoryName", l.license_no as "licenseNo",
           ${maskedHolderName(sql.ref('l.holder_name'), sql.ref('l.holder_type'))} as "holderName",
           l.holder_type as "holderType", l.holder_id_masked as "holderIdNo", ${maskedPhone(sql.ref('l.phone'))} as "phone",
           l.region_code as "regionCode", r.expires_on as "expiresOn", r.lead_days as "leadDays",
           d.channel as "channel", coalesce(d.status, 'undeliverable') as "status", m.attempts as "attempts",
           to_char(m.sent_at, ${sql.lit(ISO_INSTANT)}) as "sentAt", to_char(m.delivered_at, ${sql.lit(ISO_INSTANT)}) as "deliveredAt",
           m.error_code as "errorCode", r.outcome as "outcome"
      from reminders r
      join licenses l on l.id = r.license_id
      join categories c on c.code = l.category_code
      left join deliveries d on d.reminder_id = r.id
      left join outgoing_messages m on m.id = d.message_id
     where ${allOf(reminderConditions(filter))}
     order by r.as_of, r.id, d.channel`;
}

/** Writes the ledger of `filter` into `to` as CSV rows without a header: copyCsv's answer. */
export function copyLedger(db: Database, filter: ReportFilter, to: Writable, settings: CsvCopySettings): Promise<boolean> {
  return copyCsv(db, ledgerQuery(filter), to, settings);
}
