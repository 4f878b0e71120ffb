/**
 * Validation of one licence row as it arrives (batch JSON or one CSV row): any value at all
 * may come in. Every problem of the row is reported, not only the first. Whether the
 * category exists is not checked here (the caller asks the database).
 */
import { isBusinessDate, localDate } from './dates';
import { CHINA_TIME_ZONE, creditCodeProblem, isRegionCode, normalizeMobile, residentIdProblem } from './identity';
import type { FieldError, HolderType, License, LicenseStatus } from './types';

export type LicenseValidation = { ok: true; license: License } | { ok: false; errors: FieldError[] };

/** The fields a licence row may carry, in the order errors are reported. */
export const LICENSE_FIELDS = [
  'categoryCode',
  'licenseNo',
  'holderName',
  'holderType',
  'holderIdNo',
  'phone',
  'platformUserId',
  'regionCode',
  'validFrom',
  'expiresOn',
  'status',
] as const;

/** The field name used for a problem with the row as a whole (e.g. not an object). */
export const ROW_FIELD = '(row)';

const KNOWN_FIELDS: ReadonlySet<string> = new Set(LICENSE_FIELDS);
/** A category's code: its key in URLs, cursors and licence rows. */
export const CATEGORY_CODE = /^[a-z0-9-]{2,40}$/;

/**
 * Length in characters (code points), as PostgreSQL counts them. A string no longer than
 * `max` UTF-16 units is short enough whatever it holds, which spares counting most values.
 */
function longerThan(s: string, max: number): boolean {
  if (s.length <= max) return false;
  let chars = 0;
  for (const _ of s) if (++chars > max) return true;
  return false;
}

/** Whether `s` holds a control character (U+0000-U+001F, U+007F): tabs, line breaks, NUL... */
function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

// The field readers below are plain functions, not closures made per row: a CSV import
// validates tens of thousands of rows a second. Each reports into `errors` and returns
// undefined for a value that failed.

function fail(errors: FieldError[], field: string, message: string): undefined {
  errors.push({ field, message });
  return undefined;
}

/** A required string, trimmed; reports missing, wrong type and empty. */
function requiredString(row: Record<string, unknown>, field: string, errors: FieldError[]): string | undefined {
  const value = Object.hasOwn(row, field) ? row[field] : undefined;
  if (value === undefined || value === null) return fail(errors, field, 'is required');
  if (typeof value !== 'string') return fail(errors, field, 'must be a string');
  const s = value.trim();
  if (s === '') return fail(errors, field, 'must not be empty');
  return s;
}

/** An optional string, trimmed; absent, null and '' give null. */
function optionalString(row: Record<string, unknown>, field: string, errors: FieldError[]): string | null | undefined {
  const value = Object.hasOwn(row, field) ? row[field] : undefined;
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return fail(errors, field, 'must be a string');
  const s = value.trim();
  return s === '' ? null : s;
}

/** A free-text field: a limit on length and no control characters. */
function text(errors: FieldError[], field: string, s: string | null | undefined, max: number): string | null | undefined {
  if (s === undefined || s === null) return s;
  if (longerThan(s, max)) return fail(errors, field, `must be at most ${max} characters`);
  if (hasControlChars(s)) return fail(errors, field, 'must not contain control characters');
  return s;
}

/** A required business date. */
function date(row: Record<string, unknown>, field: string, errors: FieldError[]): string | undefined {
  const s = requiredString(row, field, errors);
  if (s === undefined) return undefined;
  if (!isBusinessDate(s)) return fail(errors, field, 'must be a real date, YYYY-MM-DD');
  return s;
}

/**
 * Checks one licence row. `today` is the date in China that a holder's birth date may not
 * pass; a caller checking many rows reads it once and passes it.
 */
export function validateLicense(input: unknown, today: string = localDate(CHINA_TIME_ZONE)): LicenseValidation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: ROW_FIELD, message: 'must be an object with the licence fields' }] };
  }
  const row = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(row)) {
    if (!KNOWN_FIELDS.has(key)) errors.push({ field: key, message: 'unknown field' });
  }

  let categoryCode = requiredString(row, 'categoryCode', errors);
  if (categoryCode !== undefined && !CATEGORY_CODE.test(categoryCode)) {
    categoryCode = fail(errors, 'categoryCode', 'must be 2-40 lowercase letters, digits or hyphens');
  }

  const licenseNo = text(errors, 'licenseNo', requiredString(row, 'licenseNo', errors), 64) ?? undefined;
  const holderName = text(errors, 'holderName', requiredString(row, 'holderName', errors), 200) ?? undefined;

  let holderType: HolderType | undefined;
  const rawHolderType = requiredString(row, 'holderType', errors);
  if (rawHolderType === 'enterprise' || rawHolderType === 'individual') holderType = rawHolderType;
  else if (rawHolderType !== undefined) fail(errors, 'holderType', "must be 'enterprise' or 'individual'");

  let holderIdNo = requiredString(row, 'holderIdNo', errors)?.toUpperCase();
  if (holderIdNo !== undefined) {
    if (holderType === 'enterprise') {
      const problem = creditCodeProblem(holderIdNo);
      if (problem) holderIdNo = fail(errors, 'holderIdNo', `an enterprise needs a valid unified social credit code: ${problem}`);
    } else if (holderType === 'individual') {
      const problem = residentIdProblem(holderIdNo, today);
      if (problem) holderIdNo = fail(errors, 'holderIdNo', `an individual needs a valid resident id number: ${problem}`);
    } else if (creditCodeProblem(holderIdNo) !== null && residentIdProblem(holderIdNo, today) !== null) {
      // The holder type is wrong or missing, so either kind of number will do here.
      holderIdNo = fail(errors, 'holderIdNo', 'not a valid unified social credit code or resident id number');
    }
  }

  let phone = optionalString(row, 'phone', errors);
  if (phone) {
    const normalized = normalizeMobile(phone);
    phone = normalized ?? fail(errors, 'phone', 'not a mainland China mobile number');
  }

  const platformUserId = text(errors, 'platformUserId', optionalString(row, 'platformUserId', errors), 128);

  let regionCode = requiredString(row, 'regionCode', errors);
  if (regionCode !== undefined && !isRegionCode(regionCode)) {
    regionCode = fail(errors, 'regionCode', 'must be a 6-digit administrative division code');
  }

  const validFrom = date(row, 'validFrom', errors);
  let expiresOn = date(row, 'expiresOn', errors);
  if (validFrom !== undefined && expiresOn !== undefined && validFrom > expiresOn) {
    expiresOn = fail(errors, 'expiresOn', 'must not be before validFrom');
  }

  let status: LicenseStatus | undefined = 'active';
  const rawStatus = optionalString(row, 'status', errors);
  if (rawStatus === 'revoked' || rawStatus === 'active') status = rawStatus;
  else if (rawStatus === undefined) status = undefined;
  else if (rawStatus !== null) status = fail(errors, 'status', "must be 'active' or 'revoked'");

  if (
    errors.length > 0 ||
    categoryCode === undefined ||
    licenseNo === undefined ||
    holderName === undefined ||
    holderType === undefined ||
    holderIdNo === undefined ||
    phone === undefined ||
    platformUserId === undefined ||
    regionCode === undefined ||
    validFrom === undefined ||
    expiresOn === undefined ||
    status === undefined
  ) {
    return { ok: false, errors };
  }
  return {
    ok: true,
    license: {
      categoryCode,
      licenseNo,
      holderName,
      holderType,
      holderIdNo,
      phone,
      platformUserId,
      regionCode,
      validFrom,
      expiresOn,
      status,
    },
  };
}
