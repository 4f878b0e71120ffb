import type { LinkedLicense } from '@lr/domain';
import { sql } from 'kysely';
import type { Database } from './db';
import { executePrepared } from './prepared';

/** What a link's message carries, and whether the link still worked (and the opening was recorded). */
export interface OpenedLink {
  messageId: number;
  licenses: LinkedLicense[];
  /** false: lapsed, nothing recorded */
  works: boolean;
}

/**
 * Opens the renewal link of the message with `token`, in one statement: reads the licences
 * the message carries (its deliveries not cancelled on their own, in expiry order) and, when
 * the latest of their expiry dates is `oldestWorkingExpiry` or later (renewal-link.ts), records
 * the opening: when, and which message's, nothing of the visitor. Undefined for a token no
 * message has, or a message that carries nothing (never sent).
 */
export async function openLink(db: Database, token: string, oldestWorkingExpiry: string): Promise<OpenedLink | undefined> {
  // Prepared: planning this statement took three times as long as running it (bench/README.md).
  const rows = await executePrepared(db, 'open-link', sql<OpenedLink>`
    with link as (
      select m.id as message_id, max(r.expires_on) as latest,
             json_agg(json_build_object('categoryName', c.name, 'licenseNo', l.license_no, 'expiresOn', r.expires_on,
                                        'renewalUrl', c.renewal_url, 'consultPhone', c.consult_phone)
                      order by r.expires_on, l.license_no) as licenses
        from outgoing_messages m
        join deliveries d on d.message_id = m.id and d.status <> 'cancelled'
        join reminders r on r.id = d.reminder_id
        join licenses l on l.id = r.license_id
        join categories c on c.code = l.category_code
       where m.link_token = ${token}
       group by m.id
    ), opened as (
      insert into link_openings (message_id)
      select message_id from link where latest >= ${oldestWorkingExpiry}::date
      returning message_id
    )
    select message_id, licenses, exists (select 1 from opened) as works from link`);
  return rows[0];
}
