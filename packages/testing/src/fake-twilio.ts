import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { fakeHttpServer, type FakeHttpServer } from './fake-http';

export const TEST_TWILIO = {
  accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
  authToken: 'test-auth-token-0123456789abcdef',
  from: '+15005550006',
};

export interface SentSms {
  to: string;
  from: string | null;
  body: string;
  statusCallback: string | null;
  sid: string;
}

export interface FakeTwilio extends FakeHttpServer {
  /** SMS the fake accepted, in order: each one a send that reached the phone (answered late or not) */
  sms(): SentSms[];
  /** the query of each Messages list request (a worker's look-up), in order, however it was answered */
  lookUps(): URLSearchParams[];
  /**
   * Accepts the next `count` SMS as it always does (kept, listed, counted) but answers only
   * after `delayMs`: as if the answer were lost on its way, or the worker died before it came.
   */
  answerLate(delayMs: number, count?: number): void;
  /** What the Messages list says of an accepted SMS from now on, as Twilio moves it on. */
  setStatus(sid: string, status: string, errorCode?: number): void;
}

/** An SMS as the fake keeps it: what it was sent, and what its Messages list says of it. */
interface Kept extends SentSms {
  accountSid: string;
  messagingServiceSid: string | null;
  dateCreated: Date;
  status: string;
  errorCode: number | null;
}

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/(AC\w+)\/Messages\.json$/;

/** Twilio's dates: RFC 2822, whole seconds. */
const rfc2822 = (date: Date) => date.toUTCString().replace('GMT', '+0000');

/**
 * Twilio's Message resource. `answer`: as the create call answers it (queued, not sent yet);
 * else as the Messages list shows it, sent when accepted, with its status.
 */
function messageResource(sms: Kept, answer: boolean) {
  const uri = `/2010-04-01/Accounts/${sms.accountSid}/Messages/${sms.sid}.json`;
  return {
    account_sid: sms.accountSid,
    api_version: '2010-04-01',
    body: sms.body,
    date_created: rfc2822(sms.dateCreated),
    date_sent: answer ? null : rfc2822(sms.dateCreated),
    date_updated: rfc2822(sms.dateCreated),
    direction: 'outbound-api',
    error_code: answer ? null : sms.errorCode,
    error_message: null,
    from: sms.from,
    messaging_service_sid: sms.messagingServiceSid,
    num_media: '0',
    num_segments: '1',
    price: null,
    price_unit: 'USD',
    sid: sms.sid,
    status: answer ? 'queued' : sms.status,
    subresource_uris: { media: uri.replace('.json', '/Media.json') },
    to: sms.to,
    uri,
  };
}

/**
 * One page of the Messages list, in Twilio's shape: `To` and `DateSent>` (a date, or a date
 * and time: on or after it) filter, newest first, `PageSize` (50) and `Page` (0) page it, and
 * `next_page_uri` leads on, as the twilio package follows it.
 */
function messagesPage(path: string, query: URLSearchParams, kept: Kept[]) {
  const to = query.get('To');
  const after = query.get('DateSent>');
  const since = after === null ? null : new Date(after);
  const pageSize = Number(query.get('PageSize') ?? 50);
  const page = Number(query.get('Page') ?? 0);
  const matching = kept.filter((sms) => (to === null || sms.to === to) && (since === null || sms.dateCreated >= since)).reverse();
  const start = page * pageSize;
  const messages = matching.slice(start, start + pageSize).map((sms) => messageResource(sms, false));
  const pageUri = (n: number) => {
    const params = new URLSearchParams(query);
    params.set('PageSize', String(pageSize));
    params.set('Page', String(n));
    return `${path}?${params.toString()}`;
  };
  return {
    first_page_uri: pageUri(0),
    end: start + messages.length - 1,
    messages,
    next_page_uri: start + pageSize < matching.length ? pageUri(page + 1) : null,
    page,
    page_size: pageSize,
    previous_page_uri: page > 0 ? pageUri(page - 1) : null,
    start,
    uri: pageUri(page),
  };
}

/**
 * Speaks the part of Twilio's REST API the SMS worker uses: POST
 * /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, answering 201 with a message
 * resource, and GET on the same path, the Messages list a worker reads before sending again
 * a message whose worker died. Replies can be queued to play errors (a 400 with code 21211,
 * a 500): each answers the next request, whichever it is, a look-up too.
 */
export async function fakeTwilio(): Promise<FakeTwilio> {
  const kept: Kept[] = [];
  let late: { delayMs: number; count: number } = { delayMs: 0, count: 0 };
  const server = await fakeHttpServer((request) => {
    const [path = '', search = ''] = request.path.split('?');
    const accountSid = MESSAGES_PATH.exec(path)?.[1];
    if (accountSid && request.method === 'GET') return { status: 200, body: messagesPage(path, new URLSearchParams(search), kept) };
    if (!accountSid || request.method !== 'POST') {
      return { status: 404, body: { code: 20404, message: 'not found', status: 404 } };
    }
    const form = new URLSearchParams(request.body);
    const sms: Kept = {
      to: form.get('To') ?? '',
      from: form.get('From'),
      body: form.get('Body') ?? '',
      statusCallback: form.get('StatusCallback'),
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid,
      messagingServiceSid: form.get('MessagingServiceSid'),
      dateCreated: new Date(),
      status: 'sent',
      errorCode: null,
    };
    kept.push(sms);
    const delayMs = late.count > 0 ? late.delayMs : undefined;
    late = { ...late, count: Math.max(0, late.count - 1) };
    return { status: 201, body: messageResource(sms, true), ...(delayMs !== undefined && { delayMs }) };
  });
  return {
    ...server,
    sms: () => kept.map(({ to, from, body, statusCallback, sid }) => ({ to, from, body, statusCallback, sid })),
    lookUps: () =>
      server.requests.flatMap((r) => {
        const [path = '', search = ''] = r.path.split('?');
        return r.method === 'GET' && MESSAGES_PATH.test(path) ? [new URLSearchParams(search)] : [];
      }),
    answerLate: (delayMs, count = 1) => {
      late = { delayMs, count };
    },
    setStatus: (sid, status, errorCode) => {
      const sms = kept.find((s) => s.sid === sid);
      if (!sms) throw new Error(`the fake Twilio has no SMS ${sid}`);
      sms.status = status;
      sms.errorCode = errorCode ?? null;
    },
  };
}

/** A status callback as Twilio sends it: form parameters and X-Twilio-Signature over the public URL. */
export function signedStatusCallback(publicUrl: string, params: Record<string, string>) {
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_TWILIO.authToken, publicUrl, params),
    },
    body: new URLSearchParams(params).toString(),
  };
}
