import { addDays, daysBetween, normalizeMobile, validateLicense } from '@lr/domain';
import { describe, expect, it } from 'vitest';
import { demoHistory, HISTORY_DAYS } from './history';
import { demoLicenses } from './licenses';

const TODAY = '2026-03-02';
const history = demoHistory(TODAY);
const todays = demoLicenses(TODAY);
const past = history.licenses.slice(todays.length);

describe('demo history', () => {
  it("starts half a year before today, with today's licences and 400 cycles that came up since", () => {
    expect(history.firstDay).toBe(addDays(TODAY, -HISTORY_DAYS));
    expect(history.licenses.slice(0, todays.length)).toEqual(todays);
    expect(past).toHaveLength(400);
    for (const l of past) {
      expect(l.expiresOn > history.firstDay && l.expiresOn < TODAY).toBe(true);
      expect(validateLicense(l).ok).toBe(true);
    }
  });

  it('is the same every time for the same day', () => {
    expect(demoHistory(TODAY)).toEqual(history);
  });

  it('never gives two holders one phone, or two licences of a category one number', () => {
    const phones = history.licenses.filter((l) => l.phone).map((l) => [l.holderIdNo, normalizeMobile(l.phone!)] as const);
    const holderOf = new Map<string, string>();
    for (const [holder, phone] of phones) {
      expect(holderOf.get(phone!) ?? holder).toBe(holder);
      holderOf.set(phone!, holder);
    }
    const keys = history.licenses.map((l) => `${l.categoryCode}|${l.licenseNo}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('renews within the half year, in order, most before the expiry date and some after it', () => {
    const days = history.renewals.map((r) => r.on);
    expect(days).toEqual([...days].sort());
    expect(days.every((d) => d >= history.firstDay && d < TODAY)).toBe(true);
    const byNo = new Map(past.map((l) => [l.licenseNo, l]));
    let late = 0;
    for (const { on, license } of history.renewals) {
      const before = byNo.get(license.licenseNo)!;
      expect(license.expiresOn > before.expiresOn).toBe(true);
      expect(validateLicense(license).ok).toBe(true);
      if (on > before.expiresOn) late++;
      // No licensee renews before the 60-day reminder could have reached them.
      expect(daysBetween(on, before.expiresOn)).toBeLessThanOrEqual(60);
    }
    expect(history.renewals.length / past.length).toBeGreaterThan(0.8);
    expect(late).toBeGreaterThan(3);
    expect(late / history.renewals.length).toBeLessThan(0.1);
  });

  it('has dead phones, rejected at once or undelivered, and holders with no contact at all', () => {
    const answers = new Set(history.deadPhones.map((d) => d.answer));
    expect(answers).toEqual(new Set(['rejected', 'undelivered']));
    const phones = new Set(past.map((l) => l.phone));
    for (const d of history.deadPhones) expect(phones.has(d.phone)).toBe(true);
    expect(past.filter((l) => !l.phone && !l.platformUserId).length).toBeGreaterThan(10);
  });

  it('renews a certificate a year on and other licences by a whole new term', () => {
    const byNo = new Map(past.map((l) => [l.licenseNo, l]));
    for (const { license } of history.renewals) {
      const before = byNo.get(license.licenseNo)!;
      if (license.categoryCode === 'enforcement-cert-review') {
        expect(license.expiresOn).toBe(`${Number(before.expiresOn.slice(0, 4)) + 1}${before.expiresOn.slice(4)}`);
        expect(license.validFrom).toBe(before.validFrom);
      } else {
        expect(license.validFrom).toBe(addDays(before.expiresOn, 1));
        expect(daysBetween(before.expiresOn, license.expiresOn) / 365).toBeGreaterThan(3.9);
      }
    }
  });
});
