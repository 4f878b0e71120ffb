import { describe, expect, it } from 'vitest';
import {
  addDays,
  BUSINESS_DATE_PATTERN,
  dateRule,
  daysBetween,
  isBusinessDate,
  isCalendarDate,
  localDate,
  localMidnight,
  LICENSE_DATES,
  localSecondOfDay,
  nextLocalMidnight,
  SCAN_DATES,
} from './dates';

describe('business dates', () => {
  it('accepts real dates written YYYY-MM-DD: a licence from 1900 to 2200, a scan from 2000 to 2100', () => {
    expect(isBusinessDate('2025-06-01')).toBe(true);
    expect(isBusinessDate('2024-02-29')).toBe(true);
    expect(isBusinessDate('2000-02-29')).toBe(true);
    // A licence issued decades ago, or valid for a century.
    expect(isBusinessDate('1900-01-01')).toBe(true);
    expect(isBusinessDate('1998-05-01')).toBe(true);
    expect(isBusinessDate('2200-12-31')).toBe(true);
    expect(isBusinessDate('1899-12-31')).toBe(false);
    expect(isBusinessDate('2201-01-01')).toBe(false);
    // A scan: the contract's range.
    expect(isBusinessDate('2000-01-01', SCAN_DATES)).toBe(true);
    expect(isBusinessDate('2100-12-31', SCAN_DATES)).toBe(true);
    expect(isBusinessDate('1999-12-31', SCAN_DATES)).toBe(false);
    expect(isBusinessDate('2101-01-01', SCAN_DATES)).toBe(false);
    expect(dateRule(SCAN_DATES)).toBe('a real date (YYYY-MM-DD) from 2000-01-01 to 2100-12-31');
    expect(dateRule(LICENSE_DATES)).toBe('a real date (YYYY-MM-DD) from 1900-01-01 to 2200-12-31');
  });

  it('rejects days that do not exist, other formats and dates out of the range', () => {
    expect(isBusinessDate('2023-02-29')).toBe(false);
    expect(isBusinessDate('2100-02-29')).toBe(false);
    expect(isBusinessDate('2025-04-31')).toBe(false);
    expect(isBusinessDate('2025-13-01')).toBe(false);
    expect(isBusinessDate('2025-00-10')).toBe(false);
    expect(isBusinessDate('2025-06-00')).toBe(false);
    expect(isBusinessDate('2025-6-1')).toBe(false);
    expect(isBusinessDate('2025/06/01')).toBe(false);
    expect(isBusinessDate('2025-06-01T00:00:00Z')).toBe(false);
    expect(isBusinessDate('2200-02-29')).toBe(false);
  });

  it('a calendar date is any real day, whatever its year (a birth date)', () => {
    expect(isCalendarDate('1900-01-01')).toBe(true);
    expect(isCalendarDate('1896-02-29')).toBe(true);
    expect(isCalendarDate('1900-02-29')).toBe(false);
    expect(isCalendarDate('2400-02-29')).toBe(true);
    expect(isCalendarDate('2025-04-31')).toBe(false);
  });

  it('the shape the API schemas check is YYYY-MM-DD and nothing around it', () => {
    const shape = new RegExp(BUSINESS_DATE_PATTERN);
    expect(shape.test('2026-03-01')).toBe(true);
    expect(shape.test('2026-3-1')).toBe(false);
    expect(shape.test('2026-03-01T00:00:00Z')).toBe(false);
    expect(shape.test(' 2026-03-01')).toBe(false);
  });

  it('counts leap days: 29 February is a real day', () => {
    expect(daysBetween('2028-02-28', '2028-03-01')).toBe(2);
    expect(daysBetween('2027-02-28', '2027-03-01')).toBe(1);
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2028-02-29', 365)).toBe('2029-02-28');
  });
});

describe('business dates in the reminder time zone', () => {
  it('is already tomorrow in Shanghai at 16:30 UTC', () => {
    const instant = new Date('2026-03-01T16:30:00Z');
    expect(localDate('Asia/Shanghai', instant)).toBe('2026-03-02');
    expect(localDate('UTC', instant)).toBe('2026-03-01');
  });

  it('turns over exactly at local midnight', () => {
    expect(localDate('Asia/Shanghai', new Date('2026-03-01T15:59:59Z'))).toBe('2026-03-01');
    expect(localDate('Asia/Shanghai', new Date('2026-03-01T16:00:00Z'))).toBe('2026-03-02');
    expect(localSecondOfDay('Asia/Shanghai', new Date('2026-03-01T16:00:05Z'))).toBe(5);
  });

  it('knows when the local day starts and the next one begins', () => {
    const instant = new Date('2026-03-01T16:30:00Z'); // 00:30 on 2 March in Shanghai
    expect(localMidnight('Asia/Shanghai', instant).toISOString()).toBe('2026-03-01T16:00:00.000Z');
    expect(nextLocalMidnight('Asia/Shanghai', instant).toISOString()).toBe('2026-03-02T16:00:00.000Z');
  });
});
