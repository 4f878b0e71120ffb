import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeHtml, LINK_NOT_FOUND_PAGE, LINK_PAGE_CSP, licensesPage } from './link-pages';

const licence = {
  categoryName: '食品经营许可证',
  licenseNo: 'JY1',
  expiresOn: '2026-03-31',
  renewalUrl: 'https://a.gov.cn/renew',
  consultPhone: '0398-7856315',
  target: 'https://a.gov.cn/renew?no=JY1&x=1',
};

describe('renewal link pages', () => {
  it('escape every character that could leave a text or an attribute', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  });

  it('list each licence with its renewal link, or the consultation phone where it has none', () => {
    const html = licensesPage([licence, { ...licence, licenseNo: '<JY2>', target: null }]);
    expect(html).toContain('<a class="renew" href="https://a.gov.cn/renew?no=JY1&amp;x=1">在线办理续期</a>');
    expect(html).toContain('证照编号：&lt;JY2&gt;');
    expect(html.match(/class="renew"/g)).toHaveLength(1);
    expect(html).toContain('请致电咨询电话办理续期');
  });

  it('allow their one style block by its hash, and hold no script', () => {
    for (const html of [licensesPage([licence]), LINK_NOT_FOUND_PAGE]) {
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
      expect(LINK_PAGE_CSP.directives.styleSrc).toEqual([`'sha256-${createHash('sha256').update(style).digest('base64')}'`]);
      expect(html).not.toMatch(/<script|\son\w+=/i);
      expect(html).toContain('<html lang="zh-CN">');
    }
  });
});
