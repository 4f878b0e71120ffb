import { forecastCategories, forecastCounts, type Database, type ForecastCategory, type ForecastWindow, type ReportFilter } from '@lr/db';
import { addDays, daysBetween, reminderWindows } from '@lr/domain';
import type { FilterProblem } from './filter';

/** docs/api.md: a forecast covers 90 days unless asked otherwise, and at most 366. */
export const FORECAST_DEFAULT_DAYS = 90;
export const FORECAST_MAX_DAYS = 366;

export interface ForecastDay {
  date: string;
  reminders: number;
  sms: number;
  push: number;
}

export interface Forecast {
  items: ForecastDay[];
  totals: { reminders: number; sms: number; push: number };
}

/**
 * The forecast's days: from `from` (default today) to `to` (default 89 days after `from`),
 * both included, at most FORECAST_MAX_DAYS; or what is wrong with them. The dates are
 * checked as real dates, and `from <= to` when both are given, before (reportFilterProblem).
 */
export function forecastPeriod(filter: Pick<ReportFilter, 'from' | 'to'>, today: string): { from: string; to: string } | FilterProblem {
  const from = filter.from ?? today;
  const to = filter.to ?? addDays(from, FORECAST_DEFAULT_DAYS - 1);
  if (from > to) return { field: 'to', message: `must not be before from (${from})` };
  if (daysBetween(from, to) + 1 > FORECAST_MAX_DAYS) {
    return { field: 'to', message: `a forecast covers at most ${FORECAST_MAX_DAYS} days, from ${from} to ${addDays(from, FORECAST_MAX_DAYS - 1)} at the latest` };
  }
  return { from, to };
}

/** Each category's reminder windows (docs/rules.md), with the channels its reminders go out on. */
export function forecastWindows(categories: ForecastCategory[]): ForecastWindow[] {
  return categories.flatMap((c) =>
    reminderWindows(c.leadDays).map((w) => ({
      categoryCode: c.code,
      lead: w.lead,
      fromDaysLeft: w.fromDaysLeft,
      toDaysLeft: w.toDaysLeft,
      sms: c.channels.includes('sms'),
      push: c.channels.includes('push'),
    })),
  );
}

/** Every day of the period in order, with the counts of the days that have any and zeros elsewhere, and their sums. */
export function forecastOfDays(period: { from: string; to: string }, counted: ForecastDay[]): Forecast {
  const byDate = new Map(counted.map((d) => [d.date, d]));
  const items: ForecastDay[] = [];
  for (let date = period.from; date <= period.to; date = addDays(date, 1)) {
    const day = byDate.get(date);
    items.push({ date, reminders: day?.reminders ?? 0, sms: day?.sms ?? 0, push: day?.push ?? 0 });
  }
  const totals = { reminders: 0, sms: 0, push: 0 };
  for (const day of items) {
    totals.reminders += day.reminders;
    totals.sms += day.sms;
    totals.push += day.push;
  }
  return { items, totals };
}

/**
 * GET /v1/forecast (docs/api.md): what the scan of each day of the period would create if a
 * scan ran every day from `from` and no licence changed. Only enabled categories make
 * reminders; with a category or region, only those licences' reminders and messages count.
 */
export async function licenseForecast(
  db: Database,
  period: { from: string; to: string },
  filter: Pick<ReportFilter, 'categoryCode' | 'regionCode'>,
): Promise<Forecast> {
  const windows = forecastWindows(await forecastCategories(db, filter.categoryCode));
  return forecastOfDays(period, await forecastCounts(db, period, windows, filter));
}
