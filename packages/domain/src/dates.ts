import type { BusinessDate } from './types';

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
