import { addDays } from './dates';
import type { BusinessDate, Category } from './types';

/** docs/rules.md: a category's lead days unless it names its own. */
export const DEFAULT_LEAD_DAYS: readonly number[] = [60, 30, 10];

/** The longest lead a category may have: a reminder is made at most this many days before its expiry date. */
export const MAX_LEAD_DAYS = 366;

/**
 * The reminder window of one lead day: the licences whose daysLeft lies in
 * [fromDaysLeft, toDaysLeft] are due for the reminder of that lead.
 */
export interface ReminderWindow {
  lead: number;
  fromDaysLeft: number;
  toDaysLeft: number;
}

/**
 * docs/rules.md: a licence with 0 <= daysLeft <= max(leadDays) is in the window
 * L = min{ l in leadDays : l >= daysLeft }. The windows therefore split 0..max into
 * consecutive ranges, one per lead, which lets the scan find each window's
 * licences with a range scan on expires_on.
 */
export function reminderWindows(leadDays: readonly number[]): ReminderWindow[] {
  const leads = [...new Set(leadDays)].sort((a, b) => a - b);
  return leads.map((lead, i) => ({ lead, fromDaysLeft: i === 0 ? 0 : leads[i - 1]! + 1, toDaysLeft: lead }));
}

/** One window on the calendar of a scan: the licences expiring from `from` to `to` (both included) are due for `lead`. */
export interface ExpiryWindow {
  lead: number;
  from: BusinessDate;
  to: BusinessDate;
}

/**
 * The windows of `leadDays` as expiry dates for a scan of `asOf`, the form the scan's SQL
 * finds licences by. Days left (docs/rules.md, dates) are `expiresOn - asOf` in whole days,
 * one more for each day later a licence expires, so a range of days left is a range of
 * expiry dates. The SQL writes each reminder's days_left with @lr/db's daysLeft, held to daysBetween;
 * packages/scan/test/windows.test.ts pins what the scan creates to the rule.
 */
export function expiryWindows(leadDays: readonly number[], asOf: BusinessDate): ExpiryWindow[] {
  return reminderWindows(leadDays).map((w) => ({ lead: w.lead, from: addDays(asOf, w.fromDaysLeft), to: addDays(asOf, w.toDaysLeft) }));
}

/** A window of one category: its licences expiring from `from` to `to` are due for `lead`. */
export interface DueWindow extends ExpiryWindow {
  categoryCode: string;
}

/** The windows of every enabled category, as expiry-date ranges for a scan of `asOf`: what the scan looks for. */
export function dueWindows(categories: Pick<Category, 'code' | 'leadDays' | 'enabled'>[], asOf: BusinessDate): DueWindow[] {
  return categories
    .filter((c) => c.enabled)
    .flatMap((c) => expiryWindows(c.leadDays, asOf).map((w) => ({ categoryCode: c.code, ...w })));
}
