import { describe, expect, it } from 'vitest';
import { addDays, daysBetween } from './dates';
import { demoCategories, demoLicenses } from './demo';
import { demoHistory } from './demo-history';
import { isValidCreditCode, isValidResidentId, normalizeMobile } from './identity';
import { validateLicense } from './license.validate';
import { PLACEHOLDERS, renderSms } from './render';
import { renewalLink } from './renewal-link';
import { smsSegments } from './sms-segments';

/** A public address as long as most a county would have: the longest the demo's SMS are made to fit. */
const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';
const SANMENXIA = ['411224', '411202', '411203', '411221', '411281', '411282'];

describe('demo categories', () => {
  const categories = demoCategories();

  it("are the four licences of the Lushi County programme and the yearly review of enforcement certificates", () => {
    expect(categories.map((c) => [c.code, c.name])).toEqual([
      ['food-business', '食品经营许可证'],
      ['public-hygiene', '公共场所卫生许可证'],
      ['water-abstraction', '取水许可证'],
      ['road-transport', '道路运输经营许可证'],
      ['enforcement-cert-review', '行政执法证件年审'],
    ]);
  });

  it('remind at 60, 30 and 10 days by SMS and push', () => {
    for (const c of categories) {
      expect(c.leadDays).toEqual([60, 30, 10]);
      expect(c.channels).toEqual(['sms', 'push']);
      expect(c.enabled).toBe(true);
      expect(c.code).toMatch(/^[a-z0-9-]{2,40}$/);
    }
  });

  it('use only the known placeholders, and the SMS carries everything the licensee needs', () => {
    for (const c of categories) {
      for (const template of [c.smsTemplate, c.pushTitle, c.pushBody]) {
        const used = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]);
        for (const name of used) expect(PLACEHOLDERS as readonly (string | undefined)[]).toContain(name);
      }
      expect(c.smsTemplate.startsWith('【卢氏县政务服务】')).toBe(true);
      for (const name of ['licenseNo', 'expiresOn', 'daysLeft', 'renewalLink', 'consultPhone']) {
        expect(c.smsTemplate).toContain(`{${name}}`);
      }
      // The personal link, which records the opening, rather than the category's.
      expect(c.smsTemplate).not.toContain('{renewalUrl}');
      // The certificate's SMS names it in words that read better than the category's name.
      expect(c.smsTemplate).toContain(c.code === 'enforcement-cert-review' ? '行政执法证' : '{licenseName}');
      // The holder's name would cost a company's SMS a third segment, and a person's name would reach the log.
      expect(c.smsTemplate).not.toContain('{holderName}');
      expect(c.pushTitle.length).toBeLessThanOrEqual(20);
      expect(c.pushBody).toContain('{expiresOn}');
    }
  });

  it('link to an https renewal page and give a county landline for advice', () => {
    for (const c of categories) {
      expect(new URL(c.renewalUrl).protocol).toBe('https:');
      expect(c.renewalUrl).toMatch(/^https:\/\/www\.hnzwfw\.gov\.cn\//);
      expect(c.consultPhone).toMatch(/^0398-7\d{6}$/);
    }
    expect(new Set(categories.map((c) => c.consultPhone)).size).toBe(5);
  });

  it('fit an SMS of one reminder into two segments, with the longest holder, licence number and date, and a 32-character public address', () => {
    const licenses = [...demoLicenses('2025-06-01', 5000), ...demoHistory('2025-06-01').licenses];
    const longest = (values: string[]) => values.reduce((a, b) => (b.length > a.length ? b : a));
    for (const category of categories) {
      const own = licenses.filter((l) => l.categoryCode === category.code);
      const sms = renderSms([
        {
          holderName: longest(licenses.map((l) => l.holderName)),
          licenseNo: longest(own.map((l) => l.licenseNo)),
          expiresOn: '2025-12-31',
          daysLeft: 60,
          category,
        },
      ], renewalLink(PUBLIC_BASE_URL, 'Xq3vT8kLm2Rw9ZpA'));
      expect(sms).toContain(`：${PUBLIC_BASE_URL}/r/Xq3vT8kLm2Rw9ZpA `);
      expect(sms).toContain(category.consultPhone);
      expect({ code: category.code, segments: smsSegments(sms).segments }).toEqual({ code: category.code, segments: 2 });
    }
  });
});

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
