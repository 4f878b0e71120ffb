import { addDays, daysBetween, isValidCreditCode, isValidResidentId, normalizeMobile, validateLicense } from '@lr/domain';
import { describe, expect, it } from 'vitest';
import { demoCategories } from './categories';
import { demoLicenses } from './licenses';

const SANMENXIA = ['411224', '411202', '411203', '411221', '411281', '411282'];

describe('demo licences', () => {
  const today = '2025-06-01';
  const licenses = demoLicenses(today);

  it('are 300 by default, and as many as asked for', () => {
    expect(licenses).toHaveLength(300);
    expect(demoLicenses(today, 12)).toHaveLength(12);
    expect(demoLicenses(today, 0)).toEqual([]);
  });

  it('are the same every time for the same day', () => {
    expect(demoLicenses(today)).toEqual(licenses);
    expect(demoLicenses(today, 50)).toEqual(licenses.slice(0, 50));
  });

  it('all pass validation', () => {
    for (const [index, license] of licenses.entries()) {
      const result = validateLicense(license);
      expect({ index, errors: result.ok ? [] : result.errors }).toEqual({ index, errors: [] });
    }
    // and on another day, with more of them
    for (const license of demoLicenses('2024-02-29', 1000)) expect(validateLicense(license).ok).toBe(true);
  });

  it('have a licence number unique within each category', () => {
    const keys = licenses.map((l) => `${l.categoryCode}|${l.licenseNo}`);
    expect(new Set(keys).size).toBe(keys.length);
    const more = demoLicenses(today, 3000).map((l) => `${l.categoryCode}|${l.licenseNo}`);
    expect(new Set(more).size).toBe(more.length);
  });

  it('cover all five categories, enterprises and individuals', () => {
    const codes = new Set(demoCategories().map((c) => c.code));
    for (const l of licenses) expect(codes.has(l.categoryCode)).toBe(true);
    expect(new Set(licenses.map((l) => l.categoryCode)).size).toBe(5);
    const enterprises = licenses.filter((l) => l.holderType === 'enterprise');
    const individuals = licenses.filter((l) => l.holderType === 'individual');
    expect(enterprises.length).toBeGreaterThan(50);
    expect(individuals.length).toBeGreaterThan(50);
  });

  it('give enterprises credit codes of Sanmenxia and individuals resident ids of people born 1960-2000', () => {
    for (const l of licenses) {
      if (l.holderType === 'enterprise') {
        expect(isValidCreditCode(l.holderIdNo)).toBe(true);
        expect(l.holderIdNo.slice(2, 8)).toBe(l.regionCode);
        expect(l.holderName).toMatch(/有限公司|农家乐|合作社|酒店|洗浴中心|分店/);
      } else {
        expect(isValidResidentId(l.holderIdNo)).toBe(true);
        expect(l.holderIdNo.slice(0, 4)).toBe('4112');
        const year = Number(l.holderIdNo.slice(6, 10));
        expect(year).toBeGreaterThanOrEqual(1960);
        expect(year).toBeLessThanOrEqual(2000);
        expect(l.holderName).toMatch(/^[\u4e00-\u9fff]{2,3}$/);
      }
    }
  });

  it('are mostly in Lushi County, all in Sanmenxia', () => {
    for (const l of licenses) expect(SANMENXIA).toContain(l.regionCode);
    const lushi = licenses.filter((l) => l.regionCode === '411224').length;
    expect(lushi / licenses.length).toBeGreaterThan(0.6);
  });

  it('mostly have a mainland mobile, about 60% a platform user id', () => {
    const withPhone = licenses.filter((l) => l.phone);
    for (const l of withPhone) expect(normalizeMobile(l.phone ?? '')).not.toBeNull();
    const noPhone = licenses.length - withPhone.length;
    expect(noPhone).toBeGreaterThan(0);
    expect(noPhone / licenses.length).toBeLessThan(0.1);

    const withUser = licenses.filter((l) => l.platformUserId);
    for (const l of withUser) expect(l.platformUserId).toMatch(/^hn-app-\d+$/);
    expect(withUser.length / licenses.length).toBeGreaterThan(0.5);
    expect(withUser.length / licenses.length).toBeLessThan(0.7);
  });

  it('have food licence numbers in the JY format', () => {
    for (const l of licenses.filter((x) => x.categoryCode === 'food-business')) {
      expect(l.licenseNo).toMatch(/^JY[12]\d{13}$/);
    }
  });

  it('expire between 30 days ago and three years on, a few years after they became valid', () => {
    for (const l of licenses.filter((x) => x.categoryCode !== 'enforcement-cert-review')) {
      const daysLeft = daysBetween(today, l.expiresOn);
      expect(daysLeft).toBeGreaterThanOrEqual(-30);
      expect(daysLeft).toBeLessThanOrEqual(3 * 365 + 1);
      const termYears = daysBetween(l.validFrom, l.expiresOn) / 365;
      expect(termYears).toBeGreaterThan(3);
      expect(termYears).toBeLessThan(11);
    }
  });

  it("give officers' enforcement certificates a review within the year, issued whole years before it", () => {
    const certificates = licenses.filter((l) => l.categoryCode === 'enforcement-cert-review');
    expect(certificates.length).toBeGreaterThan(20);
    for (const l of certificates) {
      expect(l.holderType).toBe('individual');
      expect(l.licenseNo).toMatch(/^\d{14}$/);
      expect(l.licenseNo.slice(0, 6)).toBe(l.regionCode);
      const daysLeft = daysBetween(today, l.expiresOn);
      expect(daysLeft).toBeGreaterThanOrEqual(-30);
      expect(daysLeft).toBeLessThanOrEqual(365);
      // Issued the day after the same date one to eight years before: the review falls on its anniversary.
      const issuedEve = addDays(l.validFrom, -1);
      expect(issuedEve.slice(5)).toBe(l.expiresOn.slice(5));
      const years = Number(l.expiresOn.slice(0, 4)) - Number(issuedEve.slice(0, 4));
      expect(years).toBeGreaterThanOrEqual(1);
      expect(years).toBeLessThanOrEqual(8);
    }
  });

  it('have at least 15% due within 60 days, some exactly 60, 30, 10 and 0 days out', () => {
    const daysLeft = licenses.map((l) => daysBetween(today, l.expiresOn));
    const due = daysLeft.filter((d) => d >= 0 && d <= 60);
    expect(due.length / licenses.length).toBeGreaterThanOrEqual(0.15);
    for (const exact of [60, 30, 10, 0]) expect(daysLeft).toContain(exact);
    expect(daysLeft.some((d) => d < 0)).toBe(true);
    expect(daysLeft.some((d) => d > 365)).toBe(true);
  });

  it('include a few revoked licences', () => {
    const revoked = licenses.filter((l) => l.status === 'revoked').length;
    expect(revoked).toBeGreaterThan(0);
    expect(revoked / licenses.length).toBeLessThan(0.1);
  });

  it('let some enterprises hold several licences under one phone', () => {
    const byHolder = new Map<string, Set<string>>();
    for (const l of licenses) {
      const phones = byHolder.get(l.holderIdNo) ?? new Set<string>();
      phones.add(l.phone ?? 'none');
      byHolder.set(l.holderIdNo, phones);
    }
    const multi = licenses.filter((l) => licenses.filter((m) => m.holderIdNo === l.holderIdNo).length > 1);
    expect(multi.length).toBeGreaterThan(0);
    for (const phones of byHolder.values()) expect(phones.size).toBe(1);
  });

  it('move with the day they are made for', () => {
    const later = demoLicenses('2026-01-15');
    expect(later.map((l) => daysBetween('2026-01-15', l.expiresOn))).toEqual(
      licenses.map((l) => daysBetween(today, l.expiresOn)),
    );
  });
});
