import { sql, type RawBuilder } from 'kysely';

/**
 * What the reports (figures, ledger, forecast, follow-ups) are asked for. `from` and `to`
 * are business dates, both included; `regionCode` is a 6-digit division code or its 2- or
 * 4-digit prefix. Checked before it gets here (@lr/reporting's reportFilterProblem).
 */
export interface ReportFilter {
  from?: string;
  to?: string;
  categoryCode?: string;
  regionCode?: string;
}

/** The filter's licence conditions, on the licences aliased `l`. */
export function licenseConditions(filter: Pick<ReportFilter, 'categoryCode' | 'regionCode'>): RawBuilder<unknown>[] {
  return [
    filter.categoryCode !== undefined ? sql`l.category_code = ${filter.categoryCode}` : undefined,
    // region_code is char(6): a 6-digit filter is a prefix that matches one county.
    filter.regionCode !== undefined ? sql`l.region_code like ${`${filter.regionCode}%`}` : undefined,
  ].filter((c) => c !== undefined);
}

/** The filter's conditions on reminders `r` (their scan date) of licences `l`. */
export function reminderConditions(filter: ReportFilter): RawBuilder<unknown>[] {
  return [
    filter.from !== undefined ? sql`r.as_of >= ${filter.from}::date` : undefined,
    filter.to !== undefined ? sql`r.as_of <= ${filter.to}::date` : undefined,
    ...licenseConditions(filter),
  ].filter((c) => c !== undefined);
}

/** `a and b and …`, or `true` for none. */
export function allOf(conditions: RawBuilder<unknown>[]): RawBuilder<unknown> {
  return conditions.length > 0 ? sql.join(conditions, sql` and `) : sql`true`;
}
