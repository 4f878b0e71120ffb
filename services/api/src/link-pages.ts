/**
 * The pages a holder sees on opening a renewal link (GET /r/{token}): the list of a message's
 * licences, each with its own renewal address, and the page of a link that is unknown or
 * lapsed. Small, Chinese, readable on a phone; one stylesheet inline, allowed by its hash in
 * the Content-Security-Policy, and no script.
 */
import { createHash } from 'node:crypto';
import type { LinkAnswer } from '@lr/domain';

const STYLE = `
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1f2328;background:#f4f6f8}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.5rem 0 1rem}
ul{list-style:none;margin:0;padding:0}
li{background:#fff;border-radius:.5rem;padding:1rem;margin-bottom:.75rem;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:1.05rem;margin:0 0 .25rem}
p{margin:.25rem 0;word-break:break-all}
a.renew{display:block;margin-top:.75rem;padding:.75rem;text-align:center;border-radius:.375rem;background:#c8102e;color:#fff;text-decoration:none;font-weight:600}
.note{color:#57606a;font-size:.875rem}
`;

/**
 * What the pages may load: their own stylesheet (by its hash) and nothing else; no frame,
 * form or base. As strict as the API's JSON answers but for the one style block.
 */
export const LINK_PAGE_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    styleSrc: [`'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
};

export const LINK_PAGE_TYPE = 'text/html; charset=utf-8';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or an attribute value, safe inside HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** The licences of a message of several, each with its category, number, expiry date and renewal. */
export function licensesPage(licenses: Extract<LinkAnswer, { page: unknown }>['page']): string {
  const items = licenses.map((l) => {
    const phone = escapeHtml(l.consultPhone);
    const renew =
      l.target !== null
        ? `<a class="renew" href="${escapeHtml(l.target)}">在线办理续期</a>`
        : `<p class="note">请致电咨询电话办理续期。</p>`;
    return `<li>
<h2>${escapeHtml(l.categoryName)}</h2>
<p>证照编号：${escapeHtml(l.licenseNo)}</p>
<p>到期日期：${escapeHtml(l.expiresOn)}</p>
<p>咨询电话：<a href="tel:${phone}">${phone}</a></p>
${renew}
</li>`;
  });
  return page(
    '证照续期办理',
    `<h1>您的证照即将到期</h1>
<p class="note">请逐项办理续期；每个证照有各自的办理入口。</p>
<ul>
${items.join('\n')}
</ul>`,
  );
}

/** A link that is unknown, malformed or lapsed: nothing to say about whose it was. */
export const LINK_NOT_FOUND_PAGE = page(
  '链接无效或已过期',
  `<h1>链接无效或已过期</h1>
<p>此续证链接不存在，或已超过有效期。</p>
<p class="note">如需办理证照续期，请拨打提醒短信中的咨询电话，或前往政务服务中心办理。</p>`,
);
