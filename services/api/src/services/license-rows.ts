import { existingCategoryCodes, type Database } from '@lr/db';
import { CHINA_TIME_ZONE, localDate, validateLicense, type License } from '@lr/domain';

export interface RowError {
  /** position of the row in what was sent (0-based) */
  index: number;
  field: string;
  message: string;
}

/**
 * Checks rows of licences: each row's own fields, that its category exists, and that
 * no (categoryCode, licenseNo) appears twice among them. Returns the valid licences
 * with their positions, and every problem of every other row. `knownCategories` carries
 * the category codes found to exist from one call to the next (an import checks its file
 * chunk by chunk): a category is never deleted once licences refer to it.
 */
export async function checkLicenseRows(
  db: Database,
  rows: unknown[],
  knownCategories = new Set<string>(),
): Promise<{ valid: { index: number; license: License }[]; errors: RowError[] }> {
  const errors: RowError[] = [];
  const firstIndexOfKey = new Map<string, number>();
  const candidates: { index: number; license: License }[] = [];
  // Read once for all the rows: birth dates of id numbers may not lie after it.
  const today = localDate(CHINA_TIME_ZONE);
  rows.forEach((row, index) => {
    const result = validateLicense(row, today);
    if (!result.ok) {
      errors.push(...result.errors.map((e) => ({ index, ...e })));
      return;
    }
    const key = `${result.license.categoryCode}\u0000${result.license.licenseNo}`;
    const first = firstIndexOfKey.get(key);
    if (first !== undefined) {
      errors.push({ index, field: 'licenseNo', message: `same categoryCode and licenseNo as row ${first}` });
      return;
    }
    firstIndexOfKey.set(key, index);
    candidates.push({ index, license: result.license });
  });
  const unchecked = new Set(candidates.map((c) => c.license.categoryCode).filter((code) => !knownCategories.has(code)));
  for (const code of await existingCategoryCodes(db, [...unchecked])) knownCategories.add(code);
  const valid = candidates.filter(({ index, license }) => {
    if (knownCategories.has(license.categoryCode)) return true;
    errors.push({ index, field: 'categoryCode', message: `unknown category "${license.categoryCode}"` });
    return false;
  });
  errors.sort((a, b) => a.index - b.index);
  return { valid, errors };
}
