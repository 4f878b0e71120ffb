import { describe, expect, it } from 'vitest';
import { forecastOfDays, forecastPeriod, forecastWindows } from './forecast';

describe('forecastPeriod', () => {
  it('defaults to 90 days from today', () => {
    expect(forecastPeriod({}, '2026-12-06')).toEqual({ from: '2026-12-06', to: '2027-03-05' });
    expect(forecastPeriod({ from: '2027-01-01' }, '2026-12-06')).toEqual({ from: '2027-01-01', to: '2027-03-31' });
    expect(forecastPeriod({ to: '2026-12-06' }, '2026-12-06')).toEqual({ from: '2026-12-06', to: '2026-12-06' });
  });

  it('takes 366 days (a leap year) and refuses 367', () => {
    expect(forecastPeriod({ from: '2028-01-01', to: '2028-12-31' }, '2026-12-06')).toEqual({ from: '2028-01-01', to: '2028-12-31' });
    expect(forecastPeriod({ from: '2028-01-01', to: '2029-01-01' }, '2026-12-06')).toEqual({ field: 'to', message: expect.stringMatching(/at most 366 days.*2028-12-31/) });
  });

  it('refuses a defaulted from after to', () => {
    expect(forecastPeriod({ to: '2026-12-05' }, '2026-12-06')).toEqual({ field: 'to', message: expect.stringContaining('2026-12-06') });
  });
});

describe('forecastWindows', () => {
  it("splits each category's days left into its windows, with its channels", () => {
    expect(forecastWindows([{ code: 'food', leadDays: [60, 30, 10], channels: ['push'] }])).toEqual([
      { categoryCode: 'food', lead: 10, fromDaysLeft: 0, toDaysLeft: 10, sms: false, push: true },
      { categoryCode: 'food', lead: 30, fromDaysLeft: 11, toDaysLeft: 30, sms: false, push: true },
      { categoryCode: 'food', lead: 60, fromDaysLeft: 31, toDaysLeft: 60, sms: false, push: true },
    ]);
  });
});

describe('forecastOfDays', () => {
  it('gives every day, zeros where nothing is due, and the sums', () => {
    const counted = [
      { date: '2027-01-01', reminders: 5, sms: 2, push: 1 },
      { date: '2027-01-03', reminders: 1, sms: 1, push: 0 },
    ];
    expect(forecastOfDays({ from: '2026-12-31', to: '2027-01-03' }, counted)).toEqual({
      items: [
        { date: '2026-12-31', reminders: 0, sms: 0, push: 0 },
        { date: '2027-01-01', reminders: 5, sms: 2, push: 1 },
        { date: '2027-01-02', reminders: 0, sms: 0, push: 0 },
        { date: '2027-01-03', reminders: 1, sms: 1, push: 0 },
      ],
      totals: { reminders: 6, sms: 3, push: 1 },
    });
  });
});
