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
    return { status: 201, body: { sid: sms.sid, status: 'queued', to: sms.to, from: sms.from, body: sms.body } };
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
