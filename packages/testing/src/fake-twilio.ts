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
  /** SMS the fake accepted, in order */
  sms(): SentSms[];
}

/** What Twilio answers to a message it accepted (the fields of its Message resource). */
function messageResource(path: string, sid: string, form: URLSearchParams) {
  const accountSid = /Accounts\/(AC\w+)\//.exec(path)?.[1];
  const now = new Date().toUTCString().replace('GMT', '+0000');
  const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
  return {
    account_sid: accountSid,
    api_version: '2010-04-01',
    body: form.get('Body'),
    date_created: now,
    date_sent: null,
    date_updated: now,
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: form.get('From'),
    messaging_service_sid: form.get('MessagingServiceSid'),
    num_media: '0',
    num_segments: '1',
    price: null,
    price_unit: 'USD',
    sid,
    status: 'queued',
    subresource_uris: { media: uri.replace('.json', '/Media.json') },
    to: form.get('To'),
    uri,
  };
}

/**
 * Speaks the part of Twilio's REST API the SMS worker uses: POST
 * /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, answering 201 with a
 * message resource. Replies can be queued to play errors (a 400 with code 21211, a 500).
 */
export async function fakeTwilio(): Promise<FakeTwilio> {
  const accepted: SentSms[] = [];
  const server = await fakeHttpServer((request) => {
    if (request.method !== 'POST' || !/^\/2010-04-01\/Accounts\/AC\w+\/Messages\.json$/.test(request.path)) {
      return { status: 404, body: { code: 20404, message: 'not found', status: 404 } };
    }
    const form = new URLSearchParams(request.body);
    const sms = {
      to: form.get('To') ?? '',
      from: form.get('From'),
      body: form.get('Body') ?? '',
      statusCallback: form.get('StatusCallback'),
      sid: `SM${randomBytes(16).toString('hex')}`,
    };
    accepted.push(sms);
    return { status: 201, body: messageResource(request.path, sms.sid, form) };
  });
  return { ...server, sms: () => [...accepted] };
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
