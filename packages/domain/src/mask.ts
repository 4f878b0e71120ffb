import type { HolderType } from './types';

/**
 * Personal data never leaves the service unmasked in logs or reports.
 * 13800138000 -> 138****8000; 410102199001011234 -> 410***********1234.
 */
export function maskPhone(phone: string): string {
  // Digits as maskText finds them: percent-encoded (%31), between spaces, dots, brackets…
  const digits = phone
    .replace(/%3(\d)/g, '$1')
    .replace(/%[0-9A-Fa-f]{2}|\D/g, '')
    .replace(/^(?:00)?86(?=\d{11}$)/, '');
  if (digits.length < 7) return '*'.repeat(digits.length);
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

export function maskIdNo(idNo: string): string {
  if (idNo.length < 8) return '*'.repeat(idNo.length);
  return `${idNo.slice(0, 3)}${'*'.repeat(idNo.length - 7)}${idNo.slice(-4)}`;
}

// Where a number may start in a log line: after anything but a letter or digit, and also right
// after an escape that leaves a letter or digit before it: JSON's \n, \t, \u001f…, or a
// percent-encoded character other than a digit (%2F).
const START = String.raw`(?<![0-9A-Za-z](?<!\\[bfnrt]|\\u[0-9A-Fa-f]{4}|%(?!3\d)[0-9A-Fa-f]{2}))`;
const END = String.raw`(?![0-9A-Za-z]|%3\d)`;
// A digit, or one percent-encoded in a URL (%31 is 1).
const D = String.raw`(?:\d|%3\d)`;
// Between a phone's digits: spaces, hyphens, brackets, plain or percent-encoded.
const SEP = String.raw`(?:[\s()-]|%20|%2[89Dd])`;
// As the API takes a phone (normalizeMobile), and as people and URLs write one: +86, 0086 or
// nothing before it (the + possibly %2B, then dots or brackets too: +86.138…, (+86)138…), then
// the 11 digits with separators between them, or dotted 3.4.4 (never an IPv4 address: an
// address has no group of four digits).
const MOBILE = String.raw`(?:(?:\+|%2[Bb]|00|%30%30)?(?:8|%38)(?:6|%36)(?:${SEP}|[.)]|%2[Ee])*)?(?:1|%31)(?:[3-9]|%3[3-9])(?:${D}(?:${SEP}*${D}){8}|\d\.\d{4}\.\d{4})`;
const MOBILE_IN_TEXT = new RegExp(START + MOBILE + END, 'g');
const RESIDENT_ID_IN_TEXT = new RegExp(String.raw`${START}\d{17}[\dXx]${END}`, 'g');
const CREDIT_CODE_IN_TEXT = new RegExp(String.raw`${START}[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}${END}`, 'g');

/** Masks mobile numbers and id numbers wherever they stand in free text. */
export function maskText(text: string): string {
  return text
    .replace(MOBILE_IN_TEXT, (m) => maskPhone(m))
    .replace(RESIDENT_ID_IN_TEXT, (m) => maskIdNo(m))
    .replace(CREDIT_CODE_IN_TEXT, (m) => maskIdNo(m));
}

/**
 * A holder's name as reports show it: an enterprise's name is public and stays whole; an
 * individual's keeps its first character and stars the rest, one star a character
 * (张三丰 -> 张**). Characters are code points, as PostgreSQL counts them, so the reports'
 * SQL masks the same way.
 */
export function maskHolderName(name: string, holderType: HolderType): string {
  if (holderType === 'enterprise') return name;
  const [first = '', ...rest] = Array.from(name);
  return first + '*'.repeat(rest.length);
}
