import type { HolderType } from './types';

/**
 * Personal data never leaves the service unmasked in logs or reports.
 * 13800138000 -> 138****8000; 410102199001011234 -> 410***********1234.
 */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/%20|[\s-]/g, '').replace(/^(?:\+|%2B|00)?86(?=\d{11}$)/i, '');
  if (digits.length < 7) return '*'.repeat(digits.length);
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

export function maskIdNo(idNo: string): string {
  if (idNo.length < 8) return '*'.repeat(idNo.length);
  return `${idNo.slice(0, 3)}${'*'.repeat(idNo.length - 7)}${idNo.slice(-4)}`;
}

// As the API takes a phone (normalizeMobile), and as it stands in a request's URL: +86, 0086
// or nothing before it, the + possibly encoded (%2B), spaces (%20) or hyphens between digits.
const MOBILE_IN_TEXT = /(?<![0-9A-Za-z])(?:(?:\+|%2[Bb]|00)?86(?:[\s-]|%20)*)?1[3-9]\d(?:(?:[\s-]|%20)*\d){8}(?![0-9A-Za-z])/g;
const RESIDENT_ID_IN_TEXT = /(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/g;
const CREDIT_CODE_IN_TEXT = /(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Za-z])/g;

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
