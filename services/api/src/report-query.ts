import type { Database } from '@lr/db';
import { LEDGER_LANGUAGES, reportFilterProblem, type ReportFilter } from '@lr/reporting';
import { Type } from '@sinclair/typebox';
import { ApiError } from './errors';
import { BusinessDateString } from './schemas';

/** The query fields every report takes: dates of the reminders' scans, category, region. */
export const ReportFilterQuery = {
  from: Type.Optional(BusinessDateString),
  to: Type.Optional(BusinessDateString),
  categoryCode: Type.Optional(Type.String({ maxLength: 40 })),
  regionCode: Type.Optional(Type.String({ maxLength: 6, description: '6-digit division code, or a 2- or 4-digit prefix' })),
};

/** The `lang` of a CSV download: the language of its header row (its values stay the contract's codes). */
export const CsvLanguageQuery = {
  lang: Type.Union(
    LEDGER_LANGUAGES.map((l) => Type.Literal(l)),
    { default: 'en', description: 'the language of the header; values stay codes' },
  ),
};

/** The report filter of a query, or 400 invalid_request naming what is wrong with it. */
export async function reportFilter(db: Database, query: ReportFilter): Promise<ReportFilter> {
  const filter: ReportFilter = {
    from: query.from,
    to: query.to,
    categoryCode: query.categoryCode,
    regionCode: query.regionCode,
  };
  const problem = await reportFilterProblem(db, filter);
  if (problem) throw new ApiError(400, 'invalid_request', `${problem.field} ${problem.message}`, [problem]);
  return filter;
}
