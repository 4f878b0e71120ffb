import { BUSINESS_DATE_PATTERN } from '@lr/domain';
import { Type } from '@sinclair/typebox';

/**
 * A business date's shape, 'YYYY-MM-DD' (@lr/domain dates.ts). Whether it is a real day of
 * the service's range (isBusinessDate) is checked where it is used, as the field's error
 * code differs: 422 invalid_as_of for a scan, 400 invalid_request for a filter.
 */
export const BusinessDateString = Type.String({ pattern: BUSINESS_DATE_PATTERN, examples: ['2026-03-01'] });
