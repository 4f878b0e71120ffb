/**
 * Checks of the identifiers a licence carries: mainland mobile numbers, unified social
 * credit codes (GB 32100-2015), resident id numbers (GB 11643-1999), administrative
 * division codes. Business dates have theirs in dates.ts.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { isCalendarDate, localDate } from './dates';

/** What a phone number may be written with before it is parsed: digits, spaces, hyphens, a leading '+'. */
const PHONE_CHARS = /^\+?[0-9][0-9 -]*$/;
const MOBILE_E164 = /^\+861[3-9]\d{9}$/;

/**
 * A mainland China mobile number in E.164 ('+8613800138000'), or null when `raw` is not one.
 * '+86' is optional; spaces and hyphens are tolerated. Landlines, numbers of other countries,
 * numbers with extensions or with other characters are rejected.
 */
export function normalizeMobile(raw: string): string | null {
  const s = raw.trim();
  if (!PHONE_CHARS.test(s)) return null;
  // The common shapes take a fast path: whether an 11-digit number is a mobile number
  // depends only on its leading digits (China's numbering plan allocates mobile numbers
  // in blocks; libphonenumber's CN pattern constrains at most the first six digits and
  // leaves the rest free), so the full parser's verdict is kept per seven-digit block.
  const plain = SIMPLE_MOBILE.exec(s.replace(/[\s-]/g, ''));
  if (plain) {
    const digits = plain[1]!;
    const block = digits.slice(0, 7);
    let mobile = MOBILE_BLOCKS.get(block);
    if (mobile === undefined) {
      mobile = parseMobile(digits) !== null;
      MOBILE_BLOCKS.set(block, mobile);
    }
    return mobile ? `+86${digits}` : null;
  }
  return parseMobile(s);
}

const SIMPLE_MOBILE = /^(?:\+?86)?(1\d{10})$/;
const MOBILE_BLOCKS = new Map<string, boolean>();

function parseMobile(s: string): string | null {
  const parsed = parsePhoneNumberFromString(s, 'CN');
  if (!parsed || parsed.ext) return null;
  if (!parsed.isValid() || parsed.country !== 'CN' || parsed.getType() !== 'MOBILE') return null;
  // The shape the licences table accepts (migrations/0001_licenses.sql); every CN mobile has it.
  return MOBILE_E164.test(parsed.number) ? parsed.number : null;
}

// ---- unified social credit code, GB 32100-2015 ---------------------------------------

/** The 31 characters of the code, in the order of their values 0..30 (no I, O, Z, S, V). */
const CREDIT_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;
const CREDIT_CODE_SHAPE = /^[0-9A-HJ-NPQRTUWXY]{18}$/;

/** The check character (18th) of a credit code from its first 17 characters; throws on bad input. */
export function creditCodeCheckChar(first17: string): string {
  const s = first17.toUpperCase();
  if (s.length !== 17) throw new Error('a credit code body has 17 characters');
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const value = CREDIT_ALPHABET.indexOf(s.charAt(i));
    if (value < 0) throw new Error(`'${s.charAt(i)}' is not a credit code character`);
    sum += value * (CREDIT_WEIGHTS[i] ?? 0);
  }
  const check = (31 - (sum % 31)) % 31;
  return CREDIT_ALPHABET.charAt(check);
}

/** Whether `code` is an 18-character unified social credit code with a correct check character (case-insensitive). */
export function isValidCreditCode(code: string): boolean {
  const s = code.toUpperCase();
  if (!CREDIT_CODE_SHAPE.test(s)) return false;
  return creditCodeCheckChar(s.slice(0, 17)) === s.charAt(17);
}

// ---- resident id number, GB 11643-1999 ------------------------------------------------

const RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const RESIDENT_CHECK_CHARS = '10X98765432';
const RESIDENT_ID_SHAPE = /^\d{17}[\dX]$/;

/** The check character (18th) of a resident id number from its first 17 digits; throws on bad input. */
export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new Error('a resident id body has 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17.charAt(i)) * (RESIDENT_WEIGHTS[i] ?? 0);
  return RESIDENT_CHECK_CHARS.charAt(sum % 11);
}

/** Birth dates of resident id numbers are dates in China. */
export const CHINA_TIME_ZONE = 'Asia/Shanghai';

/**
 * Whether `id` is an 18-character resident id number: a correct check character (a lowercase
 * 'x' counts as 'X') and a birth date (characters 7-14) that is a real date from 1900-01-01
 * up to `today` (default: today in China).
 */
export function isValidResidentId(id: string, today: string = localDate(CHINA_TIME_ZONE)): boolean {
  return residentIdProblem(id, today) === null;
}

/** Why `id` is not a valid resident id number, or null when it is. */
export function residentIdProblem(id: string, today: string = localDate(CHINA_TIME_ZONE)): string | null {
  const s = id.toUpperCase();
  if (s.length !== 18) return 'must have 18 characters';
  if (!RESIDENT_ID_SHAPE.test(s)) return 'must be 17 digits followed by a digit or X';
  const birth = `${s.slice(6, 10)}-${s.slice(10, 12)}-${s.slice(12, 14)}`;
  if (!isCalendarDate(birth) || birth < '1900-01-01') return 'birth date is not a real date';
  if (birth > today) return 'birth date is in the future';
  if (residentIdCheckChar(s.slice(0, 17)) !== s.charAt(17)) return 'wrong check character';
  return null;
}

/** Why `code` is not a valid unified social credit code, or null when it is. */
export function creditCodeProblem(code: string): string | null {
  const s = code.toUpperCase();
  if (s.length !== 18) return 'must have 18 characters';
  if (!CREDIT_CODE_SHAPE.test(s)) return 'contains a character not used in credit codes';
  if (creditCodeCheckChar(s.slice(0, 17)) !== s.charAt(17)) return 'wrong check character';
  return null;
}

// ---- administrative division codes -----------------------------------------------------

/** The province-level divisions of GB/T 2260 (incl. Taiwan 71, Hong Kong 81, Macao 82). */
const PROVINCE_CODES = new Set([
  '11', '12', '13', '14', '15',
  '21', '22', '23',
  '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46',
  '50', '51', '52', '53', '54',
  '61', '62', '63', '64', '65',
  '71', '81', '82',
]);

/** Whether `code` is a 6-digit administrative division code under a real province-level division. */
export function isRegionCode(code: string): boolean {
  return /^[1-9]\d{5}$/.test(code) && PROVINCE_CODES.has(code.slice(0, 2));
}
