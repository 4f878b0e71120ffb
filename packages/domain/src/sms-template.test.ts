import { describe, expect, it } from 'vitest';
import type { ReminderFacts } from './render';
import { renewalLink } from './renewal-link';
import { digestFieldProblems, renderTemplateSms, templateFieldProblems, TEMPLATE_MISSING, TEMPLATE_PARAM_TOO_LONG } from './sms-template';

const category: ReminderFacts['category'] = {
  name: '食品经营许可证',
  smsTemplate: '【卢氏县政务服务】{licenseName}（{licenseNo}）于{expiresOn}到期',
  pushTitle: 't',
  pushBody: 'b',
  renewalUrl: 'https://zwfw.example.gov.cn/renew',
  consultPhone: '0398-7856315',
  aliyunTemplateCode: 'SMS_100000001',
  aliyunTemplateParams: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', token: '{renewalToken}', tel: '{consultPhone}' },
};
const facts = (over: Partial<ReminderFacts> = {}): ReminderFacts => ({
  holderName: '张三丰',
  licenseNo: 'JY14112240001',
  expiresOn: '2026-04-01',
  daysLeft: 30,
  category,
  ...over,
});
const link = renewalLink('https://zwfw.example.gov.cn', 'Xq3vT8kLm2Rw9ZpA');

describe('template SMS (Alibaba Cloud)', () => {
  it("fills the category's variables for one licence, each a string", () => {
    expect(renderTemplateSms([facts()], link, 'SMS_9')).toEqual({
      ok: true,
      sms: {
        templateCode: 'SMS_100000001',
        templateParam: { name: '食品经营许可证', no: 'JY14112240001', date: '2026-04-01', token: 'Xq3vT8kLm2Rw9ZpA', tel: '0398-7856315' },
      },
    });
  });

  it('uses the digest template with its fixed variables for several licences: count, first, earliest date, token, tel', () => {
    const other = { ...category, name: '药品经营许可证', consultPhone: '0398-0000000' };
    const rendered = renderTemplateSms([facts({ expiresOn: '2026-03-20' }), facts({ licenseNo: 'YP1', expiresOn: '2026-05-01', category: other })], link, 'SMS_9');
    expect(rendered).toEqual({
      ok: true,
      sms: { templateCode: 'SMS_9', templateParam: { count: '2', first: '食品经营许可证', date: '2026-03-20', token: 'Xq3vT8kLm2Rw9ZpA', tel: '0398-7856315' } },
    });
  });

  it('refuses a value over 35 characters rather than cutting it, and an empty one', () => {
    const long = { ...category, aliyunTemplateParams: { name: '{holderName}' } };
    const holderName = '卢'.repeat(36);
    expect(renderTemplateSms([facts({ holderName, category: long })], link, 'SMS_9')).toMatchObject({ ok: false, code: TEMPLATE_PARAM_TOO_LONG });
    expect(renderTemplateSms([facts({ holderName: '卢'.repeat(35), category: long })], link, 'SMS_9')).toMatchObject({ ok: true });
    expect(renderTemplateSms([facts({ holderName: '', category: long })], link, 'SMS_9')).toMatchObject({ ok: false, code: TEMPLATE_PARAM_TOO_LONG });
  });

  it('fails a category without a template', () => {
    expect(renderTemplateSms([facts({ category: { ...category, aliyunTemplateCode: null } })], link, 'SMS_9')).toMatchObject({ ok: false, code: TEMPLATE_MISSING });
  });

  it('knows only our placeholders and plain variable names', () => {
    expect(templateFieldProblems({ aliyunTemplateParams: { name: '{licenseName}' } })).toEqual([]);
    expect(templateFieldProblems({ aliyunTemplateParams: { name: '{licenceName}', 'bad-name': '{licenseNo}' } }).map((p) => p.message)).toEqual([
      'name: unknown placeholder {licenceName}',
      '"bad-name" is not a template variable name (a letter, then letters, digits or _)',
    ]);
  });

  it('refuses a variable carrying a link ({renewalLink}, {renewalUrl}): the template holds the link, the token is the variable', () => {
    expect(templateFieldProblems({ aliyunTemplateParams: { token: '{renewalToken}' } })).toEqual([]);
    expect(templateFieldProblems({ aliyunTemplateParams: { link: '{renewalLink}', url: 'see {renewalUrl}' } })).toEqual([
      { field: 'aliyunTemplateParams', message: expect.stringMatching(/^link: \{renewalLink\} is a link/) },
      { field: 'aliyunTemplateParams', message: expect.stringMatching(/^url: \{renewalUrl\} is a link/) },
    ]);
  });
});

describe('digestFieldProblems', () => {
  it('names the name or consultPhone over 35 characters: the digest sends them as first and tel', () => {
    expect(digestFieldProblems({ name: '卢'.repeat(35), consultPhone: '0398-7856315' })).toEqual([]);
    expect(digestFieldProblems({ name: '卢'.repeat(36), consultPhone: '0'.repeat(36) })).toEqual([
      { field: 'name', message: expect.stringContaining('"first"') },
      { field: 'consultPhone', message: expect.stringContaining('"tel"') },
    ]);
  });
});
