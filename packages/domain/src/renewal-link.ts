/**
 * Personal renewal links (docs/rules.md, "Renewal links"): every outgoing message carries
 * PUBLIC_BASE_URL/r/{token}, its own token (migration 0011); opening it leads the holder to
 * the renewal of each licence the message names.
 */
import { addDays } from './dates';
import type { BusinessDate } from './types';

/** A message's link: the whole address, and the token alone (for providers whose templates hold the fixed part). */
export interface RenewalLink {
  url: string;
  token: string;
}

/** The path of a link under the API's address. */
export const LINK_PATH = '/r/';

/** A token as migration 0011 makes them: 12 random bytes as 16 URL-safe base64 characters. */
const LINK_TOKEN = /^[A-Za-z0-9_-]{16}$/;

/** A link works until this many days after the latest expiry date its message names. */
export const LINK_DAYS_AFTER_EXPIRY = 90;

export function renewalLink(baseUrl: string, token: string): RenewalLink {
  return { url: `${baseUrl}${LINK_PATH}${token}`, token };
}

/** Whether `value` can be a token at all: anything else is answered as unknown without asking the database. */
export function isLinkToken(value: string): boolean {
  return LINK_TOKEN.test(value);
}

/**
 * The oldest "latest expiry date" of a link that still works on `today`: a link whose message
 * names only earlier dates is lapsed.
 */
export function oldestWorkingExpiry(today: BusinessDate): BusinessDate {
  return addDays(today, -LINK_DAYS_AFTER_EXPIRY);
}

/** A category's renewal URL for one licence: `{licenseNo}`, where the URL has it, becomes the number, URL-encoded. */
export function withLicenseNo(renewalUrl: string, licenseNo: string): string {
  return renewalUrl.replaceAll('{licenseNo}', encodeURIComponent(licenseNo));
}

/**
 * Where a licence is renewed (withLicenseNo) as a valid absolute http(s) address, other
 * characters a browser would escape escaped, so that it may stand in a Location header. Null
 * when the category's URL is not one: the holder is then shown the licence and the
 * consultation phone instead.
 */
export function renewalTarget(renewalUrl: string, licenseNo: string): string | null {
  try {
    const url = new URL(withLicenseNo(renewalUrl, licenseNo));
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** One licence a link's message names: what its page shows. */
export interface LinkedLicense {
  categoryName: string;
  licenseNo: string;
  /** the expiry date the message named */
  expiresOn: BusinessDate;
  /** the category's renewal URL, `{licenseNo}` not filled in */
  renewalUrl: string;
  consultPhone: string;
}

/**
 * What a working link answers: a message of one licence goes straight to its renewal; one of
 * several (or whose one renewal address is unusable) gets a page listing each licence with
 * its own renewal address (`target`, null when there is none to give).
 */
export type LinkAnswer = { redirect: string } | { page: (LinkedLicense & { target: string | null })[] };

export function linkAnswer(licenses: LinkedLicense[]): LinkAnswer {
  const listed = licenses.map((license) => ({ ...license, target: renewalTarget(license.renewalUrl, license.licenseNo) }));
  const only = listed.length === 1 ? listed[0]!.target : null;
  return only !== null ? { redirect: only } : { page: listed };
}
