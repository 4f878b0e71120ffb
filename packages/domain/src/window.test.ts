import { describe, expect, it } from 'vitest';
import { addDays } from './dates';
import { dueWindows, expiryWindows, reminderWindows } from './window';

const DEFAULT = [60, 30, 10];

/**
 * The lead of the window whose expiry dates hold `expiresOn`, as the scan's SQL asks it
 * (`expires_on between from and to`), or null; never two windows.
 */
function leadOn(leadDays: number[], asOf: string, expiresOn: string): number | null {
  const holding = expiryWindows(leadDays, asOf).filter((w) => w.from <= expiresOn && expiresOn <= w.to);
  expect(holding.length).toBeLessThanOrEqual(1);
  return holding[0]?.lead ?? null;
}

describe('reminder windows (docs/rules.md, reminder windows)', () => {
  it('splits 0..max(leadDays) into one consecutive range per lead', () => {
    expect(reminderWindows(DEFAULT)).toEqual([
      { lead: 10, fromDaysLeft: 0, toDaysLeft: 10 },
      { lead: 30, fromDaysLeft: 11, toDaysLeft: 30 },
      { lead: 60, fromDaysLeft: 31, toDaysLeft: 60 },
    ]);
  });

  it('are, for a scan, ranges of expiry dates counted from its date', () => {
    expect(expiryWindows(DEFAULT, '2026-05-01')).toEqual([
      { lead: 10, from: '2026-05-01', to: '2026-05-11' },
      { lead: 30, from: '2026-05-12', to: '2026-05-31' },
      { lead: 60, from: '2026-06-01', to: '2026-06-30' },
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
    expect(leadOn(DEFAULT, asOf, addDays(asOf, daysLeft))).toBe(lead);
  });

  it('catch-up: a scheduler that was down sends only the window now due', () => {
    // Down from 58 to 25 days out: on return only the 30-day reminder is due.
    expect(leadOn(DEFAULT, '2026-06-05', '2026-06-30')).toBe(30);
  });

  it('honours a category with its own, unsorted lead days', () => {
    expect(reminderWindows([7, 90, 1])).toEqual([
      { lead: 1, fromDaysLeft: 0, toDaysLeft: 1 },
      { lead: 7, fromDaysLeft: 2, toDaysLeft: 7 },
      { lead: 90, fromDaysLeft: 8, toDaysLeft: 90 },
    ]);
    expect(leadOn([366], '2027-01-01', '2028-01-02')).toBe(366);
  });

  it('counts leap days: 29 February is a real day', () => {
    expect(leadOn(DEFAULT, '2028-01-30', '2028-02-29')).toBe(30);
    expect(leadOn(DEFAULT, '2027-12-31', '2028-02-29')).toBe(60);
    expect(expiryWindows([1], '2028-02-28')).toEqual([{ lead: 1, from: '2028-02-28', to: '2028-02-29' }]);
  });

  it('are looked for in every enabled category, each by its own lead days, and in no disabled one', () => {
    const categories = [
      { code: 'food-business', leadDays: [30, 10], enabled: true },
      { code: 'disabled-permit', leadDays: [60], enabled: false },
      { code: 'enforcement-cert', leadDays: [7], enabled: true },
    ];
    expect(dueWindows(categories, '2026-05-01')).toEqual([
      { categoryCode: 'food-business', lead: 10, from: '2026-05-01', to: '2026-05-11' },
      { categoryCode: 'food-business', lead: 30, from: '2026-05-12', to: '2026-05-31' },
      { categoryCode: 'enforcement-cert', lead: 7, from: '2026-05-01', to: '2026-05-08' },
    ]);
  });
});
