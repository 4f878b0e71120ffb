/**
 * The demo's categories: the licences of the Lushi County (卢氏县) programme, and the yearly
 * review of administrative law-enforcement certificates that Shaanzhou and Lushan remind of.
 */
import type { Category } from '@lr/domain';

const SMS_SIGNATURE = '【卢氏县政务服务】';

// Under SMS_PROVIDER=aliyun the carriers take no free text: a county applies for templates
// (docs/aliyun.md), and each category names its approved template and maps the template's
// variables to our placeholders. The demo shows such a set-up: one template shared by the
// four licences and one for the certificate review, worded as their SMS text. The codes are
// examples, approved for no account. A variable may not carry a link, so the template holds
// the link's fixed part (the county's PUBLIC_BASE_URL, then /r/) and the token is a variable:
//
//   SMS_468012301  您的${name}（${no}）于${date}到期，剩${days}天。办理：https://zwfw.lushi.gov.cn/r/${token} 咨询${tel}
//   SMS_468012302  您的行政执法证（${no}）应于${date}前年审，剩${days}天。办理：https://zwfw.lushi.gov.cn/r/${token} 咨询${tel}
function licenseTemplate(): Pick<Category, 'aliyunTemplateCode' | 'aliyunTemplateParams'> {
  return {
    aliyunTemplateCode: 'SMS_468012301',
    aliyunTemplateParams: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', days: '{daysLeft}', token: '{renewalToken}', tel: '{consultPhone}' },
  };
}

function reviewTemplate(): Pick<Category, 'aliyunTemplateCode' | 'aliyunTemplateParams'> {
  return {
    aliyunTemplateCode: 'SMS_468012302',
    aliyunTemplateParams: { no: '{licenseNo}', date: '{expiresOn}', days: '{daysLeft}', token: '{renewalToken}', tel: '{consultPhone}' },
  };
}

// The SMS leaves out the holder's name: a company's runs to 25 characters, and with it the
// longest licence numbers took three segments (billed three times). The phone is the
// holder's own, and the log provider writes the text to the log, where a person's name has
// no place. It carries the holder's personal renewal link (51 characters with a public
// address of 32), which records the opening and leads on to the renewal: the words around it
// are few, so that the longest licence number still fits two segments. A space ends the
// link: some phones take the characters after it for part of it.
function category(code: string, name: string, renewalPath: string, consultPhone: string): Category {
  return {
    code,
    name,
    leadDays: [60, 30, 10],
    channels: ['sms', 'push'],
    smsTemplate: `${SMS_SIGNATURE}{licenseName}（{licenseNo}）于{expiresOn}到期，剩{daysLeft}天。办理：{renewalLink} 咨询{consultPhone}`,
    pushTitle: '{licenseName}即将到期',
    pushBody:
      '您的{licenseName}（{licenseNo}）将于{expiresOn}到期，还剩{daysLeft}天，点击即可在线办理延续，咨询电话{consultPhone}。',
    renewalUrl: `https://www.hnzwfw.gov.cn/ls/${renewalPath}`,
    consultPhone,
    enabled: true,
    ...licenseTemplate(),
  };
}

/**
 * 行政执法证件年审: an officer's law-enforcement certificate is reviewed every year; the
 * review date is the licence's `expiresOn`, and a review moves it a year on.
 */
function enforcementCertificateReview(): Category {
  return {
    ...category('enforcement-cert-review', '行政执法证件年审', 'zfzj', '0398-7812148'),
    smsTemplate: `${SMS_SIGNATURE}行政执法证（{licenseNo}）应于{expiresOn}前年审，剩{daysLeft}天。办理：{renewalLink} 咨询{consultPhone}`,
    pushTitle: '行政执法证件年审提醒',
    pushBody: '您的行政执法证（{licenseNo}）应于{expiresOn}前完成年审，还剩{daysLeft}天，点击即可在线办理，咨询电话{consultPhone}。',
    ...reviewTemplate(),
  };
}

export type DemoCategoryCode = 'food-business' | 'public-hygiene' | 'water-abstraction' | 'road-transport' | 'enforcement-cert-review';

/** The four categories of the Lushi County programme, and the yearly review of enforcement certificates. */
export function demoCategories(): Category[] {
  return [
    category('food-business', '食品经营许可证', 'spjy', '0398-7856315'),
    category('public-hygiene', '公共场所卫生许可证', 'ggws', '0398-7823062'),
    category('water-abstraction', '取水许可证', 'qsxk', '0398-7868127'),
    category('road-transport', '道路运输经营许可证', 'dlys', '0398-7832590'),
    enforcementCertificateReview(),
  ];
}
