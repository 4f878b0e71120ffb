/**
 * Property-based fuzzing of every route of the API: thousands of generated bad requests
 * (wrong methods, hostile path parameters and query strings, any JSON, malformed JSON,
 * wrong content types, huge and deeply nested bodies, licence- and category-like objects
 * with random values, random credentials) and two promises about every answer:
 *
 * - never a 5xx;
 * - every 4xx is the contract's `{ error: { code, message } }`, as JSON.
 *
 * The routes come from the app itself (its route tree), so a route added later is fuzzed
 * too. Most requests carry the credential that opens the route (the admin key, a valid
 * inbox token, a valid Twilio signature), so that the handlers' own checks run, not only
 * the door. The seed is fixed so that CI runs the same requests every time; FUZZ_SEED and
 * FUZZ_RUNS explore others (e.g. FUZZ_SEED=7 FUZZ_RUNS=25000). fast-check prints the
 * failing request, shrunk, with its seed and path.
 */
import { createApiKey } from '@lr/db';
import { LICENSE_FIELDS } from '@lr/domain';
import { TEST_CREDIT_CODE, TEST_RESIDENT_ID, testLicense } from '@lr/testing';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { SignJWT } from 'jose';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, admin, auth, categoryBody, INBOX_SECRET, startTestApp, type App, type TestApp } from './harness';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_301);
/** Requests of the main property; FUZZ_RUNS raises it for a longer hunt. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 4_000);
const TWILIO_TOKEN = 'fuzz-twilio-auth-token';
const PUBLIC_BASE_URL = 'https://lr.example.gov.cn';
const TWILIO_PATH = '/webhooks/twilio/status';
const INBOX_USER = 'fuzz-user-1';
const CATEGORY = 'fuzz-cat';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
type Method = (typeof METHODS)[number];

interface Route {
  method: Method;
  /** as the router has it: `:name` parameters and `*` */
  path: string;
}

/** Every route of the app, from its route tree (`printRoutes`), HEAD left out (it comes with GET). */
function routesOf(app: App): Route[] {
  const parents: string[] = [];
  const routes: Route[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.search(/[├└]── /);
    if (at === -1) continue;
    const depth = at / 4;
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(at + 4))!;
    const path = (depth > 0 ? parents[depth - 1]! : '') + match[1]!;
    parents.length = depth;
    parents.push(path);
    for (const method of (match[2] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') routes.push({ method: method as Method, path });
    }
  }
  return routes;
}

// ---- building blocks -----------------------------------------------------------------------

/** Percent-encodes anything, lone surrogates included (encodeURIComponent would throw). */
function pct(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Any text: full Unicode with lone surrogates, NUL and control characters. */
const anyText = (maxLength = 40) => fc.string({ unit: 'binary', maxLength });

/** Text a header may carry (visible ASCII, space, tab, Latin-1). */
const headerText = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }), fc.constant(9)).map((c) => String.fromCharCode(c)),
  maxLength: 80,
});

/** Already percent-encoded (or deliberately broken) strings for paths and queries. */
const NASTY_RAW = [
  '', '0', '-1', '1', '1.5', '2147483647', '2147483648', '-2147483649', '9007199254740993', '99999999999999999999999999',
  '1e309', '-0', 'NaN', 'Infinity', '0x10', '%201', '1%20', 'true', 'null', 'undefined', '..', '.', '%2e%2e', '..%2f..',
  '%2F', '%00', 'a%00b', '%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AE%C0%AE', '%FF%FE', '%F0%9F%98%80', '%EF%BB%BF', '__proto__',
  'constructor', 'prototype', '%5B%5D', '%7B%7D', 'sms', 'push', CATEGORY, 'food-business', 'completed', 'failed',
  'delayed', 'active', 'waiting', 'paused', 'latest', 'x'.repeat(5000),
] as const;
const nastyRaw = fc.constantFrom(...NASTY_RAW);

const numberText = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double().map(String),
  fc.integer({ min: 1, max: 5 }).map(String),
);

/** A path parameter, encoded as a client would send it (mostly) or raw. */
const segment = fc.oneof(
  { weight: 4, arbitrary: nastyRaw },
  { weight: 3, arbitrary: anyText().map(pct) },
  { weight: 2, arbitrary: numberText.map(pct) },
  { weight: 1, arbitrary: fc.string({ minLength: 300, maxLength: 3000 }).map(pct) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('..', '.', '%2e%2e', 'a', ''), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/')) },
);

/** Values that name something that exists, per parameter, so that handlers get past "not found". */
const EXISTING: Record<string, readonly string[]> = {
  code: [CATEGORY],
  id: ['1', '2'],
  queueName: ['sms', 'push'],
  queueStatus: ['failed', 'completed', 'delayed', 'waiting'],
  jobId: ['sms-1', 'push-2', '1'],
  // the renewal links of the seeded scan's messages, filled in beforeAll
  token: [],
};

/** Fills `:param` and `*` of a route path. */
const pathOf = (route: Route) => {
  const holes = route.path.split('/').filter((part) => part.startsWith(':') || part === '*');
  const values = holes.map((hole) => {
    const existing = EXISTING[hole.slice(1)];
    return existing ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...existing) }, { weight: 3, arbitrary: segment }) : segment;
  });
  return fc.tuple(...values).map((filled) => {
    let i = 0;
    return route.path
      .split('/')
      .map((part) => (part.startsWith(':') || part === '*' ? filled[i++] : part))
      .join('/');
  });
};

const QUERY_KEYS = [
  'cursor', 'limit', 'categoryCode', 'licenseNo', 'expiresFrom', 'expiresTo', 'status', 'outcome', 'action', 'target',
  'asOf', 'from', 'to', 'id', 'page', 'jobs', 'activeQueue', 'status[]', 'limit[]', 'a[b]', '__proto__', 'constructor',
] as const;

const queryValue = fc.oneof(
  { weight: 3, arbitrary: nastyRaw },
  { weight: 3, arbitrary: anyText().map(pct) },
  { weight: 2, arbitrary: numberText.map(pct) },
  { weight: 1, arbitrary: fc.constantFrom('2026-03-01', '2026-02-30', '0000-00-00', '9999-99-99', '2026-3-1', 'scheduled', 'open') },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.bigInt(), anyText(8)).map((v) => Buffer.from(String(v)).toString('base64url')) }, // cursor-like
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 60_000 }).map((n) => 'q'.repeat(n)) },
);

const queryString = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: anyText(12).map(pct) }), queryValue), {
      maxLength: 6,
    }),
    fc.constantFrom('', '', '', '&', '&&=', '=', '&%ZZ=%', '&limit', '#frag', '&limit=1&limit=2'),
  )
  .map(([pairs, tail]) => {
    const text = pairs.map(([k, v]) => `${k}=${v}`).join('&') + tail;
    return text === '' ? '' : `?${text}`;
  });

/** The query parameters each route documents (from /docs/json), filled in beforeAll. */
const documentedQuery = new Map<string, string[]>();

/** Plausible values for documented query parameters: good ones, near misses, hostile ones. */
const plausibleQueryValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('1', '2', '100', '1000', '1001', '0', CATEGORY, 'JY00001', 'scheduled', 'open', 'renewed', 'category.create', `category:${CATEGORY}`, '2026-03-01', '2026-12-31', Buffer.from('1').toString('base64url')) },
  { weight: 2, arbitrary: queryValue },
);

/** A query of documented parameters only (so that the handler runs), or anything at all. */
function queryFor(route: Route): fc.Arbitrary<string> {
  const names = documentedQuery.get(routeName(route)) ?? [];
  const documentedOnly =
    names.length === 0
      ? fc.constant('')
      : fc
          .uniqueArray(fc.tuple(fc.constantFrom(...names), plausibleQueryValue), { maxLength: names.length, selector: ([name]) => name })
          .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${pct(k)}=${v}`).join('&')}`));
  return fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 3, arbitrary: documentedOnly }, { weight: 3, arbitrary: queryString });
}

// ---- bodies --------------------------------------------------------------------------------

interface Body {
  contentType?: string;
  payload?: string | Buffer;
}

/** A value a licence field might be sent with: a good one, a nearly good one, or anything. */
const fieldValue = (good: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: anyText(60) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

const licenceLike = fc.record(
  {
    categoryCode: fieldValue(fc.constantFrom(CATEGORY, 'no-such-category', 'FUZZ', 'x')),
    licenseNo: fieldValue(fc.oneof(fc.constant('JY00001'), fc.string({ minLength: 1, maxLength: 70 }))),
    holderName: fieldValue(fc.oneof(fc.constant('卢氏县张记面馆'), fc.string({ maxLength: 300 }))),
    holderType: fieldValue(fc.constantFrom('enterprise', 'individual', 'ENTERPRISE', '')),
    holderIdNo: fieldValue(fc.constantFrom(TEST_RESIDENT_ID, TEST_CREDIT_CODE, '41122419900101123X', '000000000000000000', TEST_RESIDENT_ID.toLowerCase())),
    phone: fieldValue(fc.constantFrom('13800138000', '+8613800138000', '12345678901', '010-12345678', '+1 202 555 0100', null)),
    platformUserId: fieldValue(fc.oneof(fc.constant(null), fc.constant(INBOX_USER), fc.string({ maxLength: 200 }))),
    regionCode: fieldValue(fc.constantFrom('411224', '000000', '41122', '4112240', 411224)),
    validFrom: fieldValue(fc.constantFrom('2021-04-01', '2026-02-29', '2100-12-31', '1900-01-01', '2021/04/01')),
    expiresOn: fieldValue(fc.constantFrom('2026-04-01', '2030-12-31', '2020-01-01', '2026-13-01', '')),
    status: fieldValue(fc.constantFrom('active', 'revoked', 'expired')),
    colour: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

const TEMPLATES = ['{holderName}{licenseName}{licenseNo}{expiresOn}{daysLeft}{renewalUrl}{consultPhone}', '{nope}', '{', '}{', '{{holderName}}', '😀'.repeat(400)];

const categoryLike = fc.record(
  {
    code: fieldValue(fc.oneof(fc.constant(CATEGORY), fc.stringMatching(/^[a-z0-9-]{2,40}$/), fc.constantFrom('A', 'a', 'x'.repeat(41)))),
    name: fieldValue(fc.string({ maxLength: 120 })),
    leadDays: fieldValue(fc.array(fc.integer({ min: -5, max: 400 }), { maxLength: 8 })),
    channels: fieldValue(fc.array(fc.constantFrom('sms', 'push', 'fax'), { maxLength: 3 })),
    smsTemplate: fieldValue(fc.oneof(fc.constantFrom(...TEMPLATES), fc.string({ maxLength: 1100 }))),
    pushTitle: fieldValue(fc.oneof(fc.constantFrom(...TEMPLATES), fc.string({ maxLength: 120 }))),
    pushBody: fieldValue(fc.oneof(fc.constantFrom(...TEMPLATES), fc.string({ maxLength: 1100 }))),
    renewalUrl: fieldValue(fc.constantFrom('https://x.gov.cn/renew', 'javascript:alert(1)', 'http://', 'ftp://x')),
    consultPhone: fieldValue(fc.string({ maxLength: 50 })),
    enabled: fieldValue(fc.constantFrom(true, false, 'true', 0)),
    colour: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

const scanLike = fc.record(
  { asOf: fieldValue(fc.constantFrom('2026-03-01', '1999-12-31', '2101-01-01', '2026-02-29', '2024-02-29', '2026-3-1')), force: fc.boolean() },
  { requiredKeys: [] },
);

/** CSV as the import takes it, with a header of (mostly) the licence fields and hostile cells. */
const csvText = fc
  .tuple(
    fc.boolean(),
    fc.oneof(fc.constant([...LICENSE_FIELDS]), fc.shuffledSubarray([...LICENSE_FIELDS, 'colour', '', 'categoryCode'])),
    fc.array(
      fc.array(fc.oneof(fc.constantFrom(CATEGORY, '411224', '2030-12-31', TEST_RESIDENT_ID, 'individual', '"', '""', '"a"b', '\r', '\n'), anyText(20)), {
        maxLength: 13,
      }),
      { maxLength: 8 },
    ),
    fc.constantFrom('\n', '\r\n', '\r'),
  )
  .map(([bom, header, rows, eol]) => (bom ? '\uFEFF' : '') + [header.join(','), ...rows.map((row) => row.join(','))].join(eol));

const validLicenceRows = fc.integer({ min: 1, max: 3 }).map((n) => ({ licenses: Array.from({ length: n }, () => testLicense({ categoryCode: CATEGORY })) }));

/** Any JSON value, and some values JSON.stringify makes JSON of. */
const jsonDocument = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.anything().map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 4, arbitrary: fc.array(licenceLike, { maxLength: 4 }).map((licenses) => JSON.stringify({ licenses })) },
  { weight: 1, arbitrary: validLicenceRows.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: licenceLike.map((v) => JSON.stringify(v)) },
  { weight: 4, arbitrary: categoryLike.map((v) => JSON.stringify(v)) },
  { weight: 3, arbitrary: scanLike.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify({ licenses: v })) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify({ name: 'x', channels: v, leadDays: v, asOf: v })) },
);

const malformedJson = fc.oneof(
  fc.constantFrom(
    '', ' ', '{', '}', '[', '{"a":', '{"a":1}}', '[1,2', '{"licenses":[}', 'nul', 'tru', "{'a':1}", '{"a":1,}', '01', '1e99999',
    '"\\ud800"', '"\\u0000"', '{"a":"\u0000"}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
    '{"licenses":[{"__proto__":{"x":1}}]}', '\uFEFF{}', '{"a":1}\u0000', 'NaN', '[1e400]', '{"asOf":"2026-03-01","asOf":7}',
  ),
  anyText(200),
  jsonDocument.chain((json) => fc.nat({ max: Math.max(0, json.length - 1) }).map((cut) => json.slice(0, cut))),
);

const hugeOrDeep = fc.oneof(
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => '['.repeat(n)),
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 1_000, max: 50_000 }).map((n) => `{"licenses":[${'{"a":'.repeat(n)}1${'}'.repeat(n)}]}`),
  fc.integer({ min: 1_000, max: 50_000 }).map((n) => `{"asOf":${'{"__proto__":'.repeat(n)}1${'}'.repeat(n)}}`),
  fc.integer({ min: 100_000, max: 1_000_000 }).map((n) => JSON.stringify({ name: 'x'.repeat(n), code: 'y'.repeat(n) })),
  fc.integer({ min: 11_000, max: 300_000 }).map((n) => `{"leadDays":[${'1,'.repeat(n)}1],"channels":[${'"sms",'.repeat(n)}"sms"]}`),
  fc.integer({ min: 9_000, max: 10_000 }).map((n) => `{"channels":[${'"fax",'.repeat(n)}"fax"]}`),
  fc.integer({ min: 10_001, max: 20_000 }).map((n) => JSON.stringify({ licenses: Array.from({ length: n }, () => 0) })),
);

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/vnd.api+json'] as const;
const OTHER_TYPES = [
  'text/plain', 'text/csv', 'text/csv; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream',
  'application/x-www-form-urlencoded', '', '*/*', 'application/json, text/plain', 'json', 'text/html', 'application/csv',
] as const;

const formText = fc
  .dictionary(fc.oneof(fc.constantFrom('MessageSid', 'MessageStatus', 'ErrorCode', 'AccountSid'), anyText(10)), fc.oneof(anyText(30), nastyRaw), { maxKeys: 5 })
  .map((fields) => new URLSearchParams(fields).toString());

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 10, arbitrary: fc.tuple(fc.constantFrom(...JSON_TYPES), jsonDocument).map(([contentType, payload]) => ({ contentType, payload })) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...JSON_TYPES), malformedJson).map(([contentType, payload]) => ({ contentType, payload })) },
  { weight: 1, arbitrary: hugeOrDeep.map((payload) => ({ contentType: 'application/json', payload })) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...OTHER_TYPES, ...JSON_TYPES), fc.oneof(jsonDocument, anyText(300), formText, csvText)).map(([contentType, payload]) => ({ contentType, payload })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...OTHER_TYPES, ...JSON_TYPES), fc.uint8Array({ maxLength: 300 })).map(([contentType, bytes]) => ({ contentType, payload: Buffer.from(bytes) })) },
  { weight: 1, arbitrary: jsonDocument.map((payload) => ({ payload })) }, // no content type at all
);

/** A valid category with at most one field set to anything (or one field more). */
const nearlyValidCategory = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9-]{2,40}$/),
    fc.option(fc.tuple(fc.constantFrom('code', 'name', 'leadDays', 'channels', 'smsTemplate', 'pushTitle', 'pushBody', 'renewalUrl', 'consultPhone', 'enabled', 'colour'), fc.oneof(anyText(80), fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...TEMPLATES)))),
  )
  .map(([code, change]) => ({ ...categoryBody(code), ...(change && { [change[0]]: change[1] }) }));

/** Changes to a category: some of its fields, at most one of them set to anything. */
const nearlyValidChanges = fc
  .tuple(nearlyValidCategory, fc.shuffledSubarray(['name', 'leadDays', 'channels', 'smsTemplate', 'pushTitle', 'pushBody', 'renewalUrl', 'consultPhone', 'enabled', 'colour']))
  .map(([category, fields]) => Object.fromEntries(fields.filter((f) => f in category).map((f) => [f, (category as Record<string, unknown>)[f]])));

const twilioForm = fc
  .record(
    {
      MessageSid: fc.oneof(fc.constant('SM00000000000000000000000000000000'), fc.string({ maxLength: 70 }), nastyRaw),
      MessageStatus: fc.oneof(fc.constantFrom('delivered', 'undelivered', 'failed', 'sent', 'queued', 'accepted', ''), anyText(40)),
      ErrorCode: fc.oneof(fc.constantFrom('30003', '30005', ''), anyText(20)),
      AccountSid: fc.string({ maxLength: 40 }),
    },
    { requiredKeys: ['MessageSid', 'MessageStatus'] },
  )
  .map((fields) => new URLSearchParams(fields).toString());

/** Valid licences with one field, or one more field, set to anything. */
const nearlyValidLicences = fc
  .tuple(validLicenceRows, fc.constantFrom(...LICENSE_FIELDS, 'colour', '__proto__'), fc.oneof(anyText(80), fc.jsonValue({ maxDepth: 2 }), fc.string({ minLength: 200, maxLength: 5000 })))
  .map(([{ licenses }, field, value]) => ({ licenses: licenses.map((row, i) => (i === 0 ? { ...row, [field]: value } : row)) }));

const asJson = (documents: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
  fc.tuple(fc.constantFrom(...JSON_TYPES), documents).map(([contentType, document]) => ({ contentType, payload: JSON.stringify(document) ?? 'null' }));

/** The body a route is most likely to choke on, given what it takes. */
function bodyFor(route: Route): fc.Arbitrary<Body> {
  if (route.path === '/v1/licenses/batch') {
    return fc.oneof(
      { weight: 2, arbitrary: asJson(fc.array(licenceLike, { maxLength: 4 }).map((licenses) => ({ licenses }))) },
      { weight: 2, arbitrary: asJson(nearlyValidLicences) },
      { weight: 3, arbitrary: body },
    );
  }
  if (route.path === '/v1/categories/:code') {
    return fc.oneof({ weight: 2, arbitrary: asJson(categoryLike) }, { weight: 3, arbitrary: asJson(nearlyValidChanges) }, { weight: 3, arbitrary: body });
  }
  if (route.path.startsWith('/v1/categories')) {
    return fc.oneof({ weight: 2, arbitrary: asJson(categoryLike) }, { weight: 2, arbitrary: asJson(nearlyValidCategory) }, { weight: 3, arbitrary: body });
  }
  if (route.path === '/v1/scans') {
    const asOf = fc.record({ asOf: scanLike.map((v) => v.asOf) }, { requiredKeys: [] });
    return fc.oneof({ weight: 2, arbitrary: asJson(scanLike) }, { weight: 2, arbitrary: asJson(asOf) }, { weight: 3, arbitrary: body });
  }
  if (route.path.endsWith('/import')) {
    return fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.constantFrom('text/csv', 'text/csv; charset=utf-8', 'text/csv; charset=latin1'), csvText).map(([contentType, payload]) => ({ contentType, payload })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 500 }).map((bytes) => ({ contentType: 'text/csv', payload: Buffer.from(bytes) })) },
      { weight: 2, arbitrary: body },
    );
  }
  if (route.path === TWILIO_PATH) {
    return fc.oneof(
      { weight: 3, arbitrary: twilioForm.map((payload) => ({ contentType: 'application/x-www-form-urlencoded', payload })) },
      { weight: 1, arbitrary: formText.map((payload) => ({ contentType: 'application/x-www-form-urlencoded', payload })) },
      { weight: 2, arbitrary: body },
    );
  }
  return body;
}

// ---- credentials ---------------------------------------------------------------------------

interface Credential {
  /** whether it is the credential that opens the route */
  opens: boolean;
  headers: Record<string, string>;
}

let operatorKey = '';
let viewerKey = '';

async function inboxToken(sub: string, expiresIn: string | number = '1h', secret = INBOX_SECRET): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));
}

/** A description of the Authorization header; made concrete per request (tokens are signed then). */
type AuthChoice =
  | { kind: 'none' }
  | { kind: 'raw'; value: string }
  | { kind: 'admin' }
  | { kind: 'basic-admin' }
  | { kind: 'operator' }
  | { kind: 'viewer' }
  | { kind: 'token'; sub: string; expired: boolean; wrongSecret: boolean };

const garbageAuth: fc.Arbitrary<AuthChoice> = fc.oneof(
  fc.constant<AuthChoice>({ kind: 'none' }),
  headerText.map<AuthChoice>((value) => ({ kind: 'raw', value })),
  headerText.map<AuthChoice>((value) => ({ kind: 'raw', value: `Bearer ${value}` })),
  headerText.map<AuthChoice>((value) => ({ kind: 'raw', value: `Basic ${Buffer.from(value, 'latin1').toString('base64')}` })),
  fc.constantFrom<AuthChoice>(
    { kind: 'raw', value: `Token ${ADMIN_KEY}` },
    { kind: 'raw', value: `Bearer ${ADMIN_KEY}x` },
    { kind: 'raw', value: `Bearer  ${ADMIN_KEY}` },
    { kind: 'raw', value: 'Basic !!!' },
    { kind: 'raw', value: 'Bearer' },
    { kind: 'raw', value: `bearer ${ADMIN_KEY}` },
    { kind: 'operator' },
    { kind: 'viewer' },
    { kind: 'basic-admin' },
  ),
  fc.record<AuthChoice & { kind: 'token' }>({
    kind: fc.constant('token'),
    sub: fc.oneof(fc.constant(INBOX_USER), anyText(30)),
    expired: fc.boolean(),
    wrongSecret: fc.boolean(),
  }),
);

/** At least half of all requests carry what opens the route, so that its handler runs. */
function authFor(route: Route): fc.Arbitrary<AuthChoice> {
  if (route.path === TWILIO_PATH) return garbageAuth; // Twilio signs; see signatureFor
  const opening: fc.Arbitrary<AuthChoice> = route.path.startsWith('/v1/inbox')
    ? fc.oneof(fc.constant(INBOX_USER), anyText(30)).map<AuthChoice>((sub) => ({ kind: 'token', sub, expired: false, wrongSecret: false }))
    : route.path.startsWith('/admin/queues')
      ? fc.constantFrom<AuthChoice>({ kind: 'admin' }, { kind: 'basic-admin' })
      : fc.constant<AuthChoice>({ kind: 'admin' });
  return fc.oneof({ weight: 3, arbitrary: opening }, { weight: 2, arbitrary: garbageAuth });
}

function opens(route: Route, choice: AuthChoice): boolean {
  if (route.path.startsWith('/v1/inbox')) return choice.kind === 'token' && !choice.expired && !choice.wrongSecret;
  return choice.kind === 'admin' || (choice.kind === 'basic-admin' && route.path.startsWith('/admin/queues'));
}

async function credential(route: Route, choice: AuthChoice): Promise<Credential> {
  const header = (value: string) => ({ authorization: value });
  const headers: Record<string, string> = await (async () => {
    switch (choice.kind) {
      case 'none':
        return {};
      case 'raw':
        return header(choice.value);
      case 'admin':
        return admin;
      case 'basic-admin':
        return header(`Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}`);
      case 'operator':
        return auth(operatorKey);
      case 'viewer':
        return auth(viewerKey);
      case 'token':
        return auth(await inboxToken(choice.sub, choice.expired ? Math.floor(Date.now() / 1000) - 60 : '1h', choice.wrongSecret ? `${INBOX_SECRET}-other` : INBOX_SECRET));
    }
  })();
  return { opens: opens(route, choice), headers };
}

/** A valid X-Twilio-Signature for a form body, as Twilio would send it. */
function twilioSignature(payload: string): string {
  const params = Object.fromEntries(new URLSearchParams(payload));
  return twilio.getExpectedTwilioSignature(TWILIO_TOKEN, PUBLIC_BASE_URL + TWILIO_PATH, params);
}

// ---- the requests and the promises ---------------------------------------------------------

interface FuzzRequest {
  route: Route;
  method: Method;
  url: string;
  body: Body;
  auth: AuthChoice;
  /** for the Twilio webhook: sign the form body correctly */
  signed: boolean;
  extraHeaders: Record<string, string>;
}

const extraHeaders = fc.dictionary(
  fc.constantFrom('accept', 'accept-encoding', 'x-request-id', 'content-encoding', 'x-forwarded-for', 'transfer-encoding-x', 'x-twilio-signature', 'if-none-match', 'range'),
  headerText,
  { maxKeys: 2 },
);

function requestFor(route: Route, method: fc.Arbitrary<Method>): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    route: fc.constant(route),
    method,
    url: fc.tuple(pathOf(route), queryFor(route)).map(([path, query]) => path + query),
    body: bodyFor(route),
    auth: authFor(route),
    signed: route.path === TWILIO_PATH ? fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }) : fc.constant(false),
    extraHeaders,
  });
}

interface Tally {
  requests: number;
  opened: number;
  byRoute: Map<string, number>;
  byStatus: Map<number, number>;
  /** `${route} ${status}`: how deep the requests of each route went */
  byRouteAndStatus: Map<string, number>;
}
const newTally = (): Tally => ({ requests: 0, opened: 0, byRoute: new Map(), byStatus: new Map(), byRouteAndStatus: new Map() });
const routeName = (route: Route) => `${route.method} ${route.path}`;

function describeRequest(request: FuzzRequest, res: LightMyRequestResponse): string {
  const payload = request.body.payload === undefined ? '' : String(request.body.payload);
  return `${request.method} ${request.url.slice(0, 300)} (route ${routeName(request.route)}, auth ${request.auth.kind}, content-type ${JSON.stringify(request.body.contentType)}, body ${JSON.stringify(payload.slice(0, 300))}${payload.length > 300 ? `… (${payload.length} chars)` : ''}) answered ${res.statusCode}: ${res.body.slice(0, 500)}`;
}

/**
 * The two promises about any answer. A renewal link (/r/…) is opened by a holder's browser:
 * its 404 is a page in Chinese, not JSON.
 */
function checkAnswer(request: FuzzRequest, res: LightMyRequestResponse): void {
  if (res.statusCode >= 500) throw new Error(`5xx: ${describeRequest(request, res)}`);
  if (res.statusCode < 400 || request.method === 'HEAD') return;
  const problem = (what: string) => new Error(`${what}: ${describeRequest(request, res)}`);
  if (String(res.headers['content-type']).startsWith('text/html')) {
    if (!request.url.startsWith('/r/') || res.statusCode !== 404 || !res.body.includes('<html lang="zh-CN">')) throw problem('an HTML 4xx that is not a link’s 404 page');
    return;
  }
  if (!/^application\/json/.test(String(res.headers['content-type']))) throw problem('a 4xx that is not JSON');
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    throw problem('a 4xx whose body does not parse');
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    Object.keys(parsed).join() !== 'error' ||
    typeof error?.code !== 'string' ||
    error.code === '' ||
    typeof error.message !== 'string'
  ) {
    throw problem('a 4xx not in the shape { error: { code, message } }');
  }
}

interface OpenApi {
  paths: Record<string, Record<string, { tags?: string[]; parameters?: { in: string; name: string }[] }>>;
}

let testApp: TestApp | undefined;
let app: App;
let routes: Route[];

async function send(request: FuzzRequest, tally: Tally): Promise<void> {
  const { headers: authHeaders, opens: opened } = await credential(request.route, request.auth);
  const headers: Record<string, string> = { ...request.extraHeaders, ...authHeaders };
  if (request.body.contentType !== undefined) headers['content-type'] = request.body.contentType;
  if (request.signed && typeof request.body.payload === 'string') headers['x-twilio-signature'] = twilioSignature(request.body.payload);
  const res = await app.inject({ method: request.method, url: request.url, headers, payload: request.body.payload });
  tally.requests += 1;
  if (opened || request.signed) tally.opened += 1;
  tally.byRoute.set(routeName(request.route), (tally.byRoute.get(routeName(request.route)) ?? 0) + 1);
  tally.byStatus.set(res.statusCode, (tally.byStatus.get(res.statusCode) ?? 0) + 1);
  const key = `${routeName(request.route)} ${res.statusCode}`;
  tally.byRouteAndStatus.set(key, (tally.byRouteAndStatus.get(key) ?? 0) + 1);
  checkAnswer(request, res);
}

beforeAll(async () => {
  testApp = await startTestApp({
    RATE_LIMIT_PER_MINUTE: '1000000',
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    TWILIO_FROM: '+15005550006',
    PUBLIC_BASE_URL,
  });
  app = testApp.app;
  routes = routesOf(app);
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>();
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const names = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      documentedQuery.set(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, names);
    }
  }
  operatorKey = (await createApiKey(testApp.database.db, 'fuzz desk', 'operator')).key;
  viewerKey = (await createApiKey(testApp.database.db, 'fuzz viewer', 'viewer')).key;
  // Something to find: a category, licences (one of an inbox user, expiring soon) and a scan's work.
  const seeded = [
    await app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody(CATEGORY) }),
    await app.inject({
      method: 'POST',
      url: '/v1/licenses/batch',
      headers: admin,
      payload: { licenses: [testLicense({ categoryCode: CATEGORY }), testLicense({ categoryCode: CATEGORY, platformUserId: INBOX_USER, expiresOn: '2026-03-31' })] },
    }),
    await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: { asOf: '2026-03-01' } }),
  ];
  for (const res of seeded) expect(res.statusCode, res.body).toBeLessThan(300);
  const messages = await testApp.database.db.selectFrom('outgoingMessages').select('linkToken').execute();
  EXISTING.token = messages.map((m) => m.linkToken);
  expect(EXISTING.token.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await testApp?.close();
});

describe('fuzzing every route', () => {
  it('finds the routes in the app, and every /v1 route with its method in the OpenAPI document', async () => {
    const names = routes.map(routeName);
    for (const expected of ['GET /healthz', 'GET /metrics', 'POST /v1/licenses/batch', 'POST /webhooks/twilio/status', 'GET /v1/inbox', 'GET /admin/queues']) {
      expect(names).toContain(expected);
    }
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>();
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)),
    );
    const v1 = names.filter((name) => name.includes(' /v1/') || name.includes(' /webhooks/'));
    expect(v1.filter((name) => !documented.has(name))).toEqual([]);
    // And the route tree was read right: every documented operation is among the routes fuzzed.
    expect([...documented].filter((name) => !names.includes(name))).toEqual([]);
    const untagged = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => !operation.tags?.length)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(untagged).toEqual([]);
  });

  it('never answers 5xx, and answers every 4xx in the contract shape: every route, its own method, bad input', async () => {
    const tally = newTally();
    const request = fc.constantFrom(...routes).chain((route) => requestFor(route, fc.constant(route.method)));
    await fc.assert(
      fc.asyncProperty(request, (r) => send(r, tally)),
      { seed: SEED, numRuns: RUNS },
    );
    if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries([...tally.byRouteAndStatus].sort()), Object.fromEntries(tally.byStatus));
    // Every route had its share, and the handlers ran: at least half the requests were let in.
    const fewest = Math.min(...routes.map((route) => tally.byRoute.get(routeName(route)) ?? 0));
    expect(fewest, JSON.stringify(Object.fromEntries(tally.byRoute))).toBeGreaterThanOrEqual(15);
    expect(tally.opened / tally.requests).toBeGreaterThanOrEqual(0.5);
    // Not all turned away at the door: many reached the handlers and some succeeded.
    const ok = [...tally.byStatus].filter(([status]) => status < 300).reduce((sum, [, n]) => sum + n, 0);
    expect(ok, JSON.stringify(Object.fromEntries(tally.byStatus))).toBeGreaterThan(tally.requests / 10);
  }, 120_000);

  it('never answers 5xx to a wrong method, or to a path no route has', async () => {
    const tally = newTally();
    const wrongMethod = fc
      .constantFrom(...routes)
      .chain((route) => requestFor(route, fc.constantFrom(...METHODS.filter((m) => m !== route.method && !(m === 'HEAD' && route.method === 'GET')))));
    const strayRoute = fc
      .tuple(fc.constantFrom(...routes), fc.array(segment, { minLength: 1, maxLength: 3 }))
      .chain(([route, extra]) => requestFor({ method: route.method, path: `${route.path}/${extra.join('/')}` }, fc.constantFrom(...METHODS)));
    const unknown = fc
      .array(segment, { minLength: 1, maxLength: 4 })
      .chain((parts) => requestFor({ method: 'GET', path: `/${parts.join('/')}` }, fc.constantFrom(...METHODS)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(wrongMethod, strayRoute, unknown), (r) => send(r, tally)),
      { seed: SEED + 1, numRuns: Math.ceil(RUNS / 4) },
    );
  }, 120_000);
});
