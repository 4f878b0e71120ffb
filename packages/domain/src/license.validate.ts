/**
 * Validation of one licence row as it arrives (batch JSON or one CSV row): any value at all
 * may come in. Every problem of the row is reported, not only the first. Whether the
 * category exists is not checked here (the caller asks the database).
 */
import { creditCodeProblem, isBusinessDate, isRegionCode, normalizeMobile, residentIdProblem } from './identity';
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
const CATEGORY_CODE = /^[a-z0-9-]{2,40}$/;

/** Length in characters (code points), as PostgreSQL counts them. */
function charLength(s: string): number {
  return Array.from(s).length;
}

/** Whether `s` holds a control character (U+0000-U+001F, U+007F): tabs, line breaks, NUL... */
function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function validateLicense(input: unknown): LicenseValidation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: ROW_FIELD, message: 'must be an object with the licence fields' }] };
  }
  const row = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  const fail = (field: string, message: string): undefined => {
    errors.push({ field, message });
    return undefined;
  };

  const present = (field: string): boolean => Object.hasOwn(row, field) && row[field] !== undefined;

  /** A required string, trimmed; reports missing, wrong type and empty. */
  const requiredString = (field: string): string | undefined => {
    if (!present(field) || row[field] === null) return fail(field, 'is required');
    const value = row[field];
    if (typeof value !== 'string') return fail(field, 'must be a string');
    const s = value.trim();
    if (s === '') return fail(field, 'must not be empty');
    return s;
  };

  /** An optional string, trimmed; absent, null and '' give null. */
  const optionalString = (field: string): string | null | undefined => {
    if (!present(field) || row[field] === null) return null;
    const value = row[field];
    if (typeof value !== 'string') return fail(field, 'must be a string');
    const s = value.trim();
    return s === '' ? null : s;
  };

  /** A free-text field: a limit on length and no control characters. */
  const text = (field: string, s: string | null | undefined, max: number): string | null | undefined => {
    if (s === undefined || s === null) return s;
    if (charLength(s) > max) return fail(field, `must be at most ${max} characters`);
    if (hasControlChars(s)) return fail(field, 'must not contain control characters');
    return s;
  };

  for (const key of Object.keys(row)) {
    if (!KNOWN_FIELDS.has(key)) errors.push({ field: key, message: 'unknown field' });
  }

  let categoryCode = requiredString('categoryCode');
  if (categoryCode !== undefined && !CATEGORY_CODE.test(categoryCode)) {
    categoryCode = fail('categoryCode', 'must be 2-40 lowercase letters, digits or hyphens');
  }

  const licenseNo = text('licenseNo', requiredString('licenseNo'), 64) ?? undefined;
  const holderName = text('holderName', requiredString('holderName'), 200) ?? undefined;

  let holderType: HolderType | undefined;
  const rawHolderType = requiredString('holderType');
  if (rawHolderType === 'enterprise' || rawHolderType === 'individual') holderType = rawHolderType;
  else if (rawHolderType !== undefined) fail('holderType', "must be 'enterprise' or 'individual'");

  let holderIdNo = requiredString('holderIdNo')?.toUpperCase();
  if (holderIdNo !== undefined) {
    if (holderType === 'enterprise') {
      const problem = creditCodeProblem(holderIdNo);
      if (problem) holderIdNo = fail('holderIdNo', `an enterprise needs a valid unified social credit code: ${problem}`);
    } else if (holderType === 'individual') {
      const problem = residentIdProblem(holderIdNo);
      if (problem) holderIdNo = fail('holderIdNo', `an individual needs a valid resident id number: ${problem}`);
    } else if (creditCodeProblem(holderIdNo) !== null && residentIdProblem(holderIdNo) !== null) {
      // The holder type is wrong or missing, so either kind of number will do here.
      holderIdNo = fail('holderIdNo', 'not a valid unified social credit code or resident id number');
    }
  }

  let phone = optionalString('phone');
  if (phone) {
    const normalized = normalizeMobile(phone);
    phone = normalized ?? fail('phone', 'not a mainland China mobile number');
  }

  const platformUserId = text('platformUserId', optionalString('platformUserId'), 128);

  let regionCode = requiredString('regionCode');
  if (regionCode !== undefined && !isRegionCode(regionCode)) {
    regionCode = fail('regionCode', 'must be a 6-digit administrative division code');
  }

  const date = (field: string): string | undefined => {
    const s = requiredString(field);
    if (s === undefined) return undefined;
    if (!isBusinessDate(s)) return fail(field, 'must be a real date, YYYY-MM-DD');
    return s;
  };
  const validFrom = date('validFrom');
  let expiresOn = date('expiresOn');
  if (validFrom !== undefined && expiresOn !== undefined && validFrom > expiresOn) {
    expiresOn = fail('expiresOn', 'must not be before validFrom');
  }

  let status: LicenseStatus | undefined = 'active';
  const rawStatus = optionalString('status');
  if (rawStatus === 'revoked' || rawStatus === 'active') status = rawStatus;
  else if (rawStatus === undefined) status = undefined;
  else if (rawStatus !== null) status = fail('status', "must be 'active' or 'revoked'");

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
