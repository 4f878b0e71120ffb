import { existingCategoryCodes, type Database, type ReportFilter } from '@lr/db';
import { isBusinessDate } from '@lr/domain';

export type { ReportFilter } from '@lr/db';

/** A filter the reports cannot answer: the field and what is wrong with it. */
export interface FilterProblem {
  field: string;
  message: string;
}

/** A province (2 digits), a city (4) or a county (6): a prefix of the 6-digit division code. */
export const REGION_FILTER = /^(\d{2}|\d{4}|\d{6})$/;

/**
 * What is wrong with a report filter, or undefined: dates that are not real days, `from`
 * after `to`, a region that is not a 2-, 4- or 6-digit code, a category that does not exist.
 */
export async function reportFilterProblem(db: Database, filter: ReportFilter): Promise<FilterProblem | undefined> {
  for (const field of ['from', 'to'] as const) {
    const value = filter[field];
    if (value !== undefined && !isBusinessDate(value)) return { field, message: 'must be a real date, YYYY-MM-DD' };
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) {
    return { field: 'from', message: `must not be after to (${filter.to})` };
  }
  if (filter.regionCode !== undefined && !REGION_FILTER.test(filter.regionCode)) {
    return { field: 'regionCode', message: 'must be a 6-digit division code, or its 2- or 4-digit prefix (a province, a city)' };
  }
  if (filter.categoryCode !== undefined && !(await existingCategoryCodes(db, [filter.categoryCode])).has(filter.categoryCode)) {
    return { field: 'categoryCode', message: `no category ${filter.categoryCode}` };
  }
  return undefined;
}
