import { sql, type RawBuilder } from 'kysely';

/**
 * Days left (docs/rules.md, dates) in SQL: the whole days from `asOf` to the expiry date,
 * @lr/domain's daysBetween(asOf, expiresOn). Written here once for the reminders' days_left
 * and the follow-ups' daysLeft; test/days-left.test.ts holds it to daysBetween.
 */
export function daysLeft(expiresOn: RawBuilder<string>, asOf: string): RawBuilder<number> {
  return sql<number>`(${expiresOn} - ${asOf}::date)`;
}
