import { describe, expect, it } from 'vitest';
import { isLinkToken, LINK_DAYS_AFTER_EXPIRY, linkAnswer, oldestWorkingExpiry, renewalLink, renewalTarget, withLicenseNo } from './renewal-link';

describe('renewal links', () => {
  it('are the public address, /r/ and the message’s token', () => {
    expect(renewalLink('https://reminders.example.gov.cn', 'Xq3vT8kLm2Rw9ZpA')).toEqual({
      url: 'https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA',
      token: 'Xq3vT8kLm2Rw9ZpA',
    });
  });

  it('take only tokens shaped as migration 0011 makes them: 16 URL-safe characters', () => {
    expect(isLinkToken('Xq3vT8kLm2Rw9ZpA')).toBe(true);
    expect(isLinkToken('a-b_c-d_e-f_g-h_')).toBe(true);
    for (const bad of ['', 'Xq3vT8kLm2Rw9Zp', 'Xq3vT8kLm2Rw9ZpAB', 'Xq3vT8kLm2Rw9Zp+', 'Xq3vT8kLm2Rw9Zp/', "Xq3vT8kLm2Rw9Z'A", '证照证照证照证照证照证照证照证照', 'Xq3vT8kLm2Rw9Zp\n']) {
      expect(isLinkToken(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it(`work until ${LINK_DAYS_AFTER_EXPIRY} days after the latest expiry date, that day included`, () => {
    // A message naming 2026-03-31 at the latest works through 2026-06-29 (90 days on).
    expect(oldestWorkingExpiry('2026-06-29')).toBe('2026-03-31');
    expect(oldestWorkingExpiry('2026-06-30')).toBe('2026-04-01');
    expect(oldestWorkingExpiry('2024-05-29')).toBe('2024-02-29');
  });
});

describe('renewal targets', () => {
  it('fill {licenseNo} with the number URL-encoded: spaces, slashes, ampersands, Chinese', () => {
    const url = 'https://zwfw.example.gov.cn/renew?no={licenseNo}&from=sms';
    const encoded = 'https://zwfw.example.gov.cn/renew?no=%E8%B1%AB%E5%8D%AB%E5%85%AC%E8%AF%81%E5%AD%97%202021%2F7%268&from=sms';
    expect(withLicenseNo(url, '豫卫公证字 2021/7&8')).toBe(encoded);
    expect(renewalTarget(url, '豫卫公证字 2021/7&8')).toBe(encoded);
    expect(new URL(encoded).searchParams.get('no')).toBe('豫卫公证字 2021/7&8');
    // in a path too, every time it appears
    expect(renewalTarget('https://a.gov.cn/{licenseNo}/renew#{licenseNo}', 'A 1')).toBe('https://a.gov.cn/A%201/renew#A%201');
  });

  it('leave a URL without {licenseNo} as it is, and escape what may not stand in a Location header', () => {
    expect(renewalTarget('https://www.hnzwfw.gov.cn/ls/spjy', 'JY1')).toBe('https://www.hnzwfw.gov.cn/ls/spjy');
    expect(renewalTarget('https://zwfw.example.gov.cn/续证?a=b c', 'x')).toBe('https://zwfw.example.gov.cn/%E7%BB%AD%E8%AF%81?a=b%20c');
  });

  it('are null for a category URL that is no http(s) address', () => {
    expect(renewalTarget('https://exa mple.gov.cn/', 'x')).toBeNull();
    expect(renewalTarget('javascript:alert(1)', 'x')).toBeNull();
    expect(renewalTarget('not a url', 'x')).toBeNull();
  });
});

describe('what a working link answers', () => {
  const food = { categoryName: '食品经营许可证', licenseNo: 'JY 1/2', expiresOn: '2026-03-31', renewalUrl: 'https://a.gov.cn/renew?no={licenseNo}', consultPhone: '0398-7856315' };
  const water = { ...food, categoryName: '取水许可证', licenseNo: 'D4112', expiresOn: '2026-04-10', renewalUrl: 'https://a.gov.cn/water' };

  it('sends a message of one licence straight to its renewal', () => {
    expect(linkAnswer([food])).toEqual({ redirect: 'https://a.gov.cn/renew?no=JY%201%2F2' });
  });

  it('lists the licences of a message of several, each with its own renewal address', () => {
    expect(linkAnswer([food, water])).toEqual({
      page: [
        { ...food, target: 'https://a.gov.cn/renew?no=JY%201%2F2' },
        { ...water, target: 'https://a.gov.cn/water' },
      ],
    });
  });

  it('shows the page, with the consultation phone, for a single licence whose category has no usable address', () => {
    expect(linkAnswer([{ ...food, renewalUrl: 'https://bad host/' }])).toEqual({ page: [{ ...food, renewalUrl: 'https://bad host/', target: null }] });
  });
});
