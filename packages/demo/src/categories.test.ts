import { PLACEHOLDERS, renderSms, renewalLink, smsSegments } from '@lr/domain';
import { describe, expect, it } from 'vitest';
import { demoCategories } from './categories';
import { demoHistory } from './history';
import { demoLicenses } from './licenses';

/** A public address as long as most a county would have: the longest the demo's SMS are made to fit. */
const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';

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
