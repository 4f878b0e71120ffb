import { daysBetween } from './dates';
import type { BusinessDate } from './types';

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

/** The lead whose reminder is due for a licence, or null when none is. */
export function dueLead(leadDays: readonly number[], asOf: BusinessDate, expiresOn: BusinessDate): number | null {
  const daysLeft = daysBetween(asOf, expiresOn);
  const window = reminderWindows(leadDays).find((w) => daysLeft >= w.fromDaysLeft && daysLeft <= w.toDaysLeft);
  return window?.lead ?? null;
}
