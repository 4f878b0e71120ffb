import { describe, expect, it } from 'vitest';
import { addDays, daysBetween, localDate, localMidnight, localSecondOfDay, nextLocalMidnight } from './dates';
import { dueLead, reminderWindows } from './window';

const DEFAULT = [60, 30, 10];

describe('reminder windows (docs/rules.md, reminder windows)', () => {
  it('splits 0..max(leadDays) into one consecutive range per lead', () => {
    expect(reminderWindows(DEFAULT)).toEqual([
      { lead: 10, fromDaysLeft: 0, toDaysLeft: 10 },
      { lead: 30, fromDaysLeft: 11, toDaysLeft: 30 },
      { lead: 60, fromDaysLeft: 31, toDaysLeft: 60 },
    ]);
  });

  it.each([
    [61, null],
    [60, 60],
    [45, 60], // first seen 45 days out: the 60-day reminder now
    [31, 60],
    [30, 30],
    [11, 30],
    [10, 10],
    [1, 10],
    [0, 10], // expires today: still reminded, with the smallest lead
    [-1, null], // already expired: never reminded
  ])('a licence %i days from expiry is due for the %s-day reminder', (daysLeft, lead) => {
    const asOf = '2026-05-01';
    expect(dueLead(DEFAULT, asOf, addDays(asOf, daysLeft))).toBe(lead);
  });

  it('catch-up: a scheduler that was down sends only the window now due', () => {
    // Down from 58 to 25 days out: on return only the 30-day reminder is due.
    expect(dueLead(DEFAULT, '2026-06-05', '2026-06-30')).toBe(30);
  });

  it('honours a category with its own, unsorted lead days', () => {
    expect(reminderWindows([7, 90, 1])).toEqual([
      { lead: 1, fromDaysLeft: 0, toDaysLeft: 1 },
      { lead: 7, fromDaysLeft: 2, toDaysLeft: 7 },
      { lead: 90, fromDaysLeft: 8, toDaysLeft: 90 },
    ]);
    expect(dueLead([366], '2027-01-01', '2028-01-02')).toBe(366);
  });

  it('counts leap days: 29 February is a real day', () => {
    expect(daysBetween('2028-02-28', '2028-03-01')).toBe(2);
    expect(daysBetween('2027-02-28', '2027-03-01')).toBe(1);
    expect(dueLead(DEFAULT, '2028-01-30', '2028-02-29')).toBe(30);
    expect(dueLead(DEFAULT, '2027-12-31', '2028-02-29')).toBe(60);
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
