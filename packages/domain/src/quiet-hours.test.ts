import { describe, expect, it } from 'vitest';
import { quietHoursEnd } from './quiet-hours';

const NIGHT = { start: 21 * 60, end: 8 * 60 }; // 21:00-08:00
const TZ = 'Asia/Shanghai';

describe('quiet hours', () => {
  it('holds a message sent at 23:30 Shanghai time until 08:00 next morning', () => {
    // 23:30 in Shanghai is 15:30 UTC
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-01T15:30:00Z'))?.toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });

  it('holds a message sent at 07:59 until 08:00 the same morning', () => {
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-01T23:59:00Z'))?.toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });

  it('lets a message leave at 08:00 sharp and in the afternoon', () => {
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-02T00:00:00Z'))).toBeNull();
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-02T06:00:00Z'))).toBeNull();
  });

  it('starts at 21:00 sharp', () => {
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-02T12:59:59Z'))).toBeNull();
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-02T13:00:00Z'))?.toISOString()).toBe('2026-03-03T00:00:00.000Z');
  });

  it('handles quiet hours within one day, and none at all', () => {
    const lunch = { start: 12 * 60, end: 13 * 60 };
    expect(quietHoursEnd(lunch, 'UTC', new Date('2026-03-02T12:30:00Z'))?.toISOString()).toBe('2026-03-02T13:00:00.000Z');
    expect(quietHoursEnd(lunch, 'UTC', new Date('2026-03-02T13:30:00Z'))).toBeNull();
    expect(quietHoursEnd(null, TZ, new Date('2026-03-02T15:30:00Z'))).toBeNull();
  });

  it('within one day, starts at its start sharp and ends at its end sharp, in local time', () => {
    // 12:00-13:00 Shanghai is 04:00-05:00 UTC: a rule read in UTC would hold nothing here.
    const lunch = { start: 12 * 60, end: 13 * 60 };
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-02T03:59:59Z'))).toBeNull();
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-02T04:00:00Z'))?.toISOString()).toBe('2026-03-02T05:00:00.000Z');
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-02T04:59:59Z'))?.toISOString()).toBe('2026-03-02T05:00:00.000Z');
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-02T05:00:00Z'))).toBeNull();
    // Early morning and late evening lie outside a midday range: not taken for spanning midnight.
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-01T16:30:00Z'))).toBeNull();
    expect(quietHoursEnd(lunch, TZ, new Date('2026-03-02T15:30:00Z'))).toBeNull();
  });

  it('waits to the second: a message at 07:59:30 is held 30 seconds', () => {
    expect(quietHoursEnd(NIGHT, TZ, new Date('2026-03-01T23:59:30Z'))?.toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });
});
