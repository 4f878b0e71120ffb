import type { BusinessDate } from './types';

/**
 * What a business date looks like: 'YYYY-MM-DD'. The API's schemas check this much; whether
 * it is a real day of the service's range is isBusinessDate's question.
 */
export const BUSINESS_DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';
const DATE_PARTS = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The business dates the service accepts, one range per kind of date and both here:
 * - a licence's validFrom and expiresOn, and the dates of filters and cursors over them:
 *   1900 to 2200, for a licence issued decades ago or valid for a century ("long-term");
 * - a scan's asOf: 2000 to 2100, the range the contract fixes for it.
 */
export interface DateRange {
  first: BusinessDate;
  last: BusinessDate;
}
export const LICENSE_DATES: DateRange = { first: '1900-01-01', last: '2200-12-31' };
export const SCAN_DATES: DateRange = { first: '2000-01-01', last: '2100-12-31' };

/** What a business date of `range` must be, in the words of the API's and the command's refusals. */
export const dateRule = (range: DateRange) => `a real date (YYYY-MM-DD) from ${range.first} to ${range.last}`;

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether `s` is 'YYYY-MM-DD' and a day of the Gregorian calendar, any year (a birth date, say). */
export function isCalendarDate(s: string): boolean {
  const m = DATE_PARTS.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  if (month === 2) return day <= ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28);
  return day <= MONTH_DAYS[month - 1]!;
}

/** Whether `s` is a business date: a real calendar date within `range` (a licence's, unless said). */
export function isBusinessDate(s: string, range: DateRange = LICENSE_DATES): boolean {
  return isCalendarDate(s) && s >= range.first && s <= range.last;
}

const DAY_MS = 86_400_000;

function dayNumber(date: BusinessDate): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

/** Whole days from `from` to `to`; negative when `to` is earlier. */
export function daysBetween(from: BusinessDate, to: BusinessDate): number {
  return dayNumber(to) - dayNumber(from);
}

export function addDays(date: BusinessDate, days: number): BusinessDate {
  return new Date((dayNumber(date) + days) * DAY_MS).toISOString().slice(0, 10);
}

/** One formatter per zone: making one costs far more than using it (workers ask per message). */
const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(timezone: string, instant: Date): Record<string, string> {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, formatter);
  }
  return Object.fromEntries(formatter.formatToParts(instant).map((p) => [p.type, p.value]));
}

/** The business date of `instant` in `timezone`. */
export function localDate(timezone: string, instant: Date = new Date()): BusinessDate {
  const p = localParts(timezone, instant);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Seconds since local midnight of `instant` in `timezone`. */
export function localSecondOfDay(timezone: string, instant: Date): number {
  const p = localParts(timezone, instant);
  return Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second);
}

/**
 * The instant the next business day starts in `timezone`. Exact in zones without
 * daylight saving (Asia/Shanghai); at most an hour off across a DST change elsewhere.
 */
export function nextLocalMidnight(timezone: string, instant: Date): Date {
  const wholeSecond = Math.floor(instant.getTime() / 1000) * 1000;
  return new Date(wholeSecond + (86_400 - localSecondOfDay(timezone, instant)) * 1000);
}

/** The instant the business day of `instant` started in `timezone` (same caveat). */
export function localMidnight(timezone: string, instant: Date): Date {
  return new Date(nextLocalMidnight(timezone, instant).getTime() - 86_400_000);
}
