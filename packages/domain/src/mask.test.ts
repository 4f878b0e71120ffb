import { describe, expect, it } from 'vitest';
import { maskHolderName, maskIdNo, maskPhone, maskText } from './mask';

describe('masking personal data', () => {
  it('keeps the first three and last four digits of a mobile number', () => {
    expect(maskPhone('13800138000')).toBe('138****8000');
    expect(maskPhone('+8613800138000')).toBe('138****8000');
  });

  it('masks an id number but for its first three and last four characters', () => {
    expect(maskIdNo('41010219900101123X')).toBe('410***********123X');
  });

  it('finds phones and id numbers inside free text, and leaves other numbers alone', () => {
    const line = 'sent to +8613800138000 for 41010219900101123X and 91410100MA44XXXX3R, job sms-1234567';
    const masked = maskText(line);
    expect(masked).not.toContain('13800138000');
    expect(masked).not.toContain('41010219900101123X');
    expect(masked).toContain('138****8000');
    expect(masked).toContain('410***********123X');
    expect(masked).toContain('sms-1234567');
  });

  it('masks a phone in a request URL, its + encoded or not', () => {
    const urls = [
      '/v1/suppressions/%2B8613800138000',
      '/v1/suppressions/%2b8613800138000',
      '/v1/suppressions/13800138000?x=1',
      '/v1/suppressions/%2B86%20138-0013-8000',
      '/v1/suppressions/138%200013%208000',
      '/v1/suppressions/008613800138000',
      'to +86 138 0013 8000.',
    ];
    for (const url of urls) {
      const masked = maskText(`{"url":"${url}"}`);
      expect(masked.replace(/%20|[\s-]/g, ''), url).not.toMatch(/0013/);
      expect(masked, url).toContain('138****8000');
    }
  });

  it('leaves dates, times and other numbers alone', () => {
    const line = '2026-12-02T13:31:06.697Z scan 1 created 16100 reminders, 24118 messages; licence JY14112240000733, sid SM13800138000ab';
    expect(maskText(line)).toBe(line);
  });

  it("keeps an individual's first character and stars the rest, one star a character", () => {
    expect(maskHolderName('张三丰', 'individual')).toBe('张**');
    expect(maskHolderName('张三', 'individual')).toBe('张*');
    expect(maskHolderName('张', 'individual')).toBe('张');
    expect(maskHolderName('', 'individual')).toBe('');
    expect(maskHolderName('Wang, "Li"\nMing', 'individual')).toBe('W' + '*'.repeat(14));
  });

  it('counts a character outside the BMP (two UTF-16 units) as one', () => {
    expect(maskHolderName('𠀀三', 'individual')).toBe('𠀀*');
    expect(maskHolderName('李𠀀𠀁', 'individual')).toBe('李**');
    expect(maskHolderName('😀', 'individual')).toBe('😀');
  });

  it("leaves an enterprise's name whole", () => {
    expect(maskHolderName('卢氏县"豫西"餐饮, 有限公司', 'enterprise')).toBe('卢氏县"豫西"餐饮, 有限公司');
  });
});
