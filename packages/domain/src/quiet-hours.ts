import { localSecondOfDay } from './dates';

/** Quiet hours as minutes after local midnight; start > end spans midnight (21:00-08:00). */
export interface QuietHours {
  start: number;
  end: number;
}

/**
 * When `now` falls in quiet hours, the instant they end; otherwise null.
 * Computed from the local wall clock, so it is exact in zones without daylight
 * saving (Asia/Shanghai) and at most an hour off on a DST change elsewhere.
 */
export function quietHoursEnd(quiet: QuietHours | null, timezone: string, now: Date): Date | null {
  if (quiet === null) return null;
  const second = localSecondOfDay(timezone, now);
  const start = quiet.start * 60;
  const end = quiet.end * 60;
  const inside = start < end ? second >= start && second < end : second >= start || second < end;
  if (!inside) return null;
  const wait = (end - second + 86_400) % 86_400;
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + wait * 1000);
}
